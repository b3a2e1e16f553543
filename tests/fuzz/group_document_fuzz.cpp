// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzz target for the group-management document parser: whatever comes from the main overlay
// must be rejected cleanly or, if accepted, survive an encode/decode round trip unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "z2z/groups/document.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto doc = z2z::groups::decodeDocument(input);
  if (doc) {
    auto again = z2z::groups::decodeDocument(z2z::groups::encodeDocument(*doc));
    if (!again || !(*again == *doc))
      std::abort();
    (void)z2z::groups::verifyDocument(*doc);
  }
  return 0;
}
