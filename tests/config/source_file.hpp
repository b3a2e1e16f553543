// SPDX-License-Identifier: GPL-3.0-or-later
// A file of the source tree (man pages, contrib files) as text, for the tests that compare
// them with the code.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

inline std::string sourceFile(const std::string& relative) {
  std::ifstream in(std::string(Z2Z_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
