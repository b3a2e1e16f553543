// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzz target for the mDNS message reader: any datagram on the link must be rejected cleanly
// or give names that could be written again (labels of 1 to 63 bytes, names within 255), and TXT
// data no longer than the datagram that the TXT reader takes or refuses cleanly; records left out
// are said why.
#include <cstdint>
#include <cstdlib>

#include "z2z/mdns/dns_wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto message = z2z::mdns::wire::parseMessage(data, size);
  if (message) {
    if (message->skipped > 0 && message->whySkipped.empty())
      std::abort();
    for (const auto& r : message->records) {
      if (!z2z::mdns::wire::encodeName(r.name) ||
          (!r.target.empty() && !z2z::mdns::wire::encodeName(r.target))) {
        std::abort();
      }
      if (r.txt.size() > size)
        std::abort();
      (void)z2z::mdns::wire::parseTxtRdata(r.txt);
    }
  }
  return 0;
}
