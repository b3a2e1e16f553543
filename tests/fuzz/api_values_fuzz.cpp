// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzz target for what the classic gateway API carries: the values under a key (chunks of z2z
// values, anyone's other values) and the stored form of API puts and removals. Whatever comes
// in must be rejected cleanly; every value reassembled must split and reassemble again
// unchanged (so its chain held); a stored form decoded must encode to the same.
//
// Input: the values under one key, each as a 2-byte big-endian length and that many bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "z2z/dht/gateway_api.hpp"

namespace gw = z2z::dht::gateway;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<z2z::dht::Bytes> values;
  std::span<const std::uint8_t> in(data, size);
  while (in.size() >= 2 && values.size() < 256) {
    std::size_t n = std::min<std::size_t>(in.size() - 2, std::size_t{in[0]} << 8 | in[1]);
    values.emplace_back(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(n));
    in = in.subspan(2 + n);
  }
  gw::Assembly a = gw::assemble(values);
  if (a.foreign > values.size())
    std::abort();
  for (const z2z::dht::Value& v : a.values) {
    if (v.data.size() > gw::kMaxChunks * gw::kChunkPayloadSize)
      std::abort();
    gw::Assembly again = gw::assemble(gw::splitValue(v));
    if (again.values.size() != 1 || again.values[0].id != v.id || again.values[0].data != v.data)
      std::abort();
  }
  for (const z2z::dht::Bytes& b : values) {
    auto stored = gw::decodeStored(b);
    if (!stored)
      continue;
    auto again = gw::decodeStored(gw::encodeStored(*stored));
    if (!again || gw::encodeStored(*again) != gw::encodeStored(*stored))
      std::abort();
  }
  return 0;
}
