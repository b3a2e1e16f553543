// SPDX-License-Identifier: GPL-3.0-or-later
// withGatewayApiValues: how a gateway with an embedded node sees what clients of the gateway API
// (z2z --gateway) wrote through a served endpoint: their chunks, reassembled.
#include <mutex>

#include "z2z/dht/gateway_api.hpp"
#include "z2z/dht/overlay.hpp"

namespace z2z::dht {
namespace {

class ApiValuesOverlay final : public Overlay {
 public:
  explicit ApiValuesOverlay(Overlay& raw) : raw_(raw) {}

  void put(const Key& key, Value value, bool permanent, DoneCallback done) override {
    raw_.put(key, std::move(value), permanent, std::move(done));
  }
  void cancelPut(const Key& key, std::uint64_t id) override { raw_.cancelPut(key, id); }

  void get(const Key& key, std::function<void(std::vector<Value>)> done) override {
    raw_.get(key, [done = std::move(done)](std::vector<Value> values) {
      done(gateway::reassembleStored(values, gateway::unixNow()));
    });
  }

  ListenToken listen(const Key& key, ListenCallback callback) override {
    // The stored API values seen so far (by overlay value id) and what they add up to.
    struct State {
      std::mutex mutex;
      std::map<std::uint64_t, Bytes> stored;
      gateway::ValueDiff diff;
    };
    auto state = std::make_shared<State>();
    return raw_.listen(
        key, [state, callback = std::move(callback)](std::vector<Value> values, bool expired) {
          std::vector<Value> native;
          std::vector<Value> added, gone;
          {
            std::lock_guard lock(state->mutex);
            bool changed = false;
            for (Value& v : values) {
              if (!gateway::isStored(v.data)) {
                native.push_back(std::move(v));
              } else if (expired) {
                changed |= state->stored.erase(v.id) > 0;
              } else {
                state->stored[v.id] = std::move(v.data);
                changed = true;
              }
            }
            if (changed) {
              std::vector<Value> all;
              for (const auto& [id, data] : state->stored)
                all.push_back(Value{id, data});
              auto change = state->diff.update(gateway::reassembleStored(all, gateway::unixNow()));
              added = std::move(change.added);
              gone = std::move(change.gone);
            }
          }
          if (!native.empty())
            callback(std::move(native), expired);
          if (!added.empty())
            callback(std::move(added), false);
          if (!gone.empty())
            callback(std::move(gone), true);
        });
  }

  void cancelListen(ListenToken token) override { raw_.cancelListen(token); }
  void bootstrap(const std::vector<config::Endpoint>& nodes) override { raw_.bootstrap(nodes); }
  OverlayStats stats() const override { return raw_.stats(); }
  std::vector<config::Endpoint> knownNodes() const override { return raw_.knownNodes(); }
  std::vector<NodeInfo> routingNodes() const override { return raw_.routingNodes(); }
  std::vector<config::Endpoint> publicEndpoints() const override { return raw_.publicEndpoints(); }
  std::uint16_t port() const override { return raw_.port(); }
  Key nodeId() const override { return raw_.nodeId(); }
  std::size_t permanentPuts() const override { return raw_.permanentPuts(); }

 private:
  Overlay& raw_;
};

}  // namespace

std::unique_ptr<Overlay> withGatewayApiValues(Overlay& raw) {
  return std::make_unique<ApiValuesOverlay>(raw);
}

}  // namespace z2z::dht
