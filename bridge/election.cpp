// SPDX-License-Identifier: GPL-3.0-or-later
#include "z2z/bridge/election.hpp"

#include <algorithm>
#include <map>

#include "z2z/bridge/record.hpp"
#include "z2z/config/log.hpp"
#include "z2z/config/values.hpp"
#include "z2z/mdns/link.hpp"

namespace z2z::bridge {
namespace {

constexpr std::string_view kTag = "election";

std::string txtValue(const std::vector<std::string>& txt, std::string_view key) {
  for (const std::string& t : txt) {
    if (t.size() > key.size() && t.compare(0, key.size(), key) == 0 && t[key.size()] == '=') {
      return t.substr(key.size() + 1);
    }
  }
  return "";
}

}  // namespace

const Election::Peer* electLeader(const std::vector<Election::Peer>& candidates) {
  auto best = std::min_element(candidates.begin(), candidates.end(),
                               [](const Election::Peer& a, const Election::Peer& b) {
                                 if (a.priority != b.priority)
                                   return a.priority > b.priority;
                                 return a.id < b.id;
                               });
  return best == candidates.end() ? nullptr : &*best;
}

struct Election::Impl {
  mdns::EventLoop& loop;
  ElectionOptions options;
  Peer self;
  Callback onChange;
  std::map<std::string, Peer> peers;  // by instance name
  bool settled = false;
  bool leader = false;
  std::string leaderId;
  std::unique_ptr<mdns::EventLoop::Timer> settleTimer;
  std::unique_ptr<mdns::Link> link;

  Impl(mdns::EventLoop& l, const ElectionOptions& o, std::string id, Callback cb)
      : loop(l), options(o), onChange(std::move(cb)) {
    self.id = std::move(id);
    self.priority = o.priority;
    self.dhtPort = o.dhtPort;
    link = std::make_unique<mdns::Link>(
        loop, mdns::LinkOptions{options.interfaces},
        mdns::LinkEvents{[this](const mdns::Service& s) { found(s); },
                         [this](const mdns::ServiceKey& k) { removed(k); },
                         [this](bool up) {
                           if (up && link)
                             advertise();
                         }});
    link->browse(std::string(kElectionServiceType));
    advertise();
    settleTimer = loop.timer([this] {
      settled = true;
      decide();
    });
    settleTimer->arm(options.settle);
  }

  void advertise() {
    mdns::Service s;
    s.key = {"z2z gateway " + self.id.substr(0, 8), std::string(kElectionServiceType), "local"};
    s.port = self.dhtPort;
    s.txt = {"id=" + self.id, "prio=" + std::to_string(self.priority),
             "port=" + std::to_string(self.dhtPort), "v=1"};
    link->advertise("self", s, options.ttl);
  }

  void found(const mdns::Service& s) {
    Peer p;
    p.id = txtValue(s.txt, "id");
    auto prio = config::parseInt<int>(txtValue(s.txt, "prio"), -1000000, 1000000);
    auto port = config::parseInt<std::uint16_t>(txtValue(s.txt, "port"), 0, 65535);
    if (!isOriginId(p.id) || !prio || !port) {
      log::warning(kTag, "ignoring ", mdns::describe(s.key), ": malformed TXT");
      return;
    }
    if (p.id == self.id)
      return;
    p.priority = *prio;
    p.dhtPort = *port;
    p.host = s.host;
    bool known = peers.count(s.key.name);
    peers[s.key.name] = p;
    if (!known)
      log::info(kTag, "gateway ", p.id, " (priority ", p.priority, ") is on the link");
    decide();
  }

  void removed(const mdns::ServiceKey& k) {
    auto it = peers.find(k.name);
    if (it == peers.end())
      return;
    log::info(kTag, "gateway ", it->second.id, " left the link");
    peers.erase(it);
    decide();
  }

  void decide() {
    if (!settled)
      return;
    std::vector<Peer> all{self};
    for (const auto& [name, p] : peers)
      all.push_back(p);
    const Peer* best = electLeader(all);
    std::string newLeader = best->id;
    bool nowLeader = newLeader == self.id;
    bool changedLeader = newLeader != leaderId;
    leaderId = newLeader;
    if (changedLeader) {
      log::notice(
          kTag,
          nowLeader ? "this gateway leads the link" : "gateway " + newLeader + " leads the link",
          " (", all.size(), " gateways)");
    }
    if (nowLeader != leader) {
      leader = nowLeader;
      if (onChange)
        onChange(leader);
    }
  }
};

Election::Election(mdns::EventLoop& loop, const ElectionOptions& options, std::string selfId,
                   Callback onChange)
    : impl_(std::make_unique<Impl>(loop, options, std::move(selfId), std::move(onChange))) {}

Election::~Election() = default;

bool Election::settled() const {
  return impl_->settled;
}
bool Election::isLeader() const {
  return impl_->leader;
}
std::string Election::leaderId() const {
  return impl_->leaderId;
}

std::vector<Election::Peer> Election::peers() const {
  std::vector<Peer> out;
  for (const auto& [name, p] : impl_->peers)
    out.push_back(p);
  return out;
}

}  // namespace z2z::bridge
