// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzz target for the DHT record parser: whatever comes from the network must be rejected
// cleanly or, if accepted, survive an encode/decode round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "z2z/bridge/record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto record = z2z::bridge::decodeRecord(input);
  if (record) {
    auto again = z2z::bridge::decodeRecord(z2z::bridge::encodeRecord(*record));
    if (!again || !(*again == *record))
      std::abort();
  }
  return 0;
}
