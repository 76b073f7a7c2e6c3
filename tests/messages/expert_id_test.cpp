// Expert ids (messages/expert_id.hpp): the one pattern every boundary checks, and the grid
// prefixes an expert is declared under. Part of messages.expert_codec; no LibTorch here.
#define CAF_SUITE messages.expert_codec
#include <caf/test/unit_test.hpp>

#include <string>
#include <vector>

#include "messages/expert_id.hpp"

using namespace dmoe;

CAF_TEST(valid expert ids) {
  for (std::string id : {"ffn.0", "ffn.3.17", "a.1", "_x.1.2.3.4", "Moe-Layer_2.10.0",
                         "ffn.999999999", "ffn.007"}) {
    if (!is_valid_expert_id(id))
      CAF_ERROR("'" << id << "' should be valid");
    CAF_CHECK(is_valid_expert_id(id));
  }
  // The longest accepted id: exactly max_expert_id_bytes.
  std::string longest = std::string(max_expert_id_bytes - 2, 'e') + ".1";
  CAF_CHECK_EQUAL(longest.size(), max_expert_id_bytes);
  CAF_CHECK(is_valid_expert_id(longest));
}

CAF_TEST(invalid expert ids) {
  std::vector<std::string> bad{"",         "ffn",      "ffn.",       ".1",       "1ffn.1",
                               "-ffn.1",   "ffn.-1",   "ffn.+1",     "ffn..1",   "ffn.1.",
                               "ffn.1a",   "ffn.a",    "ffn.1 ",     " ffn.1",   "f f.1",
                               "ffn:1",    "ffn.1/2",  "ffn.1234567890", "ffné.1", "ffn.1.2.x"};
  bad.push_back(std::string("ffn.1\0", 6));
  bad.push_back(std::string(max_expert_id_bytes - 1, 'e') + ".1");  // one byte too long
  for (const auto& id : bad) {
    if (is_valid_expert_id(id))
      CAF_ERROR("'" << id << "' should be invalid");
    CAF_CHECK(!is_valid_expert_id(id));
  }
}

CAF_TEST(grid prefixes list every coordinate prefix shortest first) {
  CAF_CHECK_EQUAL(grid_prefixes("ffn.3.17"), (std::vector<std::string>{"ffn.", "ffn.3."}));
  CAF_CHECK_EQUAL(grid_prefixes("ffn.3"), (std::vector<std::string>{"ffn."}));
  CAF_CHECK_EQUAL(grid_prefixes("moe.1.22.333"),
                  (std::vector<std::string>{"moe.", "moe.1.", "moe.1.22."}));
  CAF_CHECK(grid_prefixes("ffn").empty());
}

CAF_TEST(coordinates and name of an id) {
  CAF_CHECK_EQUAL(grid_coordinates("moe.1.22.333"), (std::vector<int64_t>{1, 22, 333}));
  CAF_CHECK_EQUAL(grid_name("moe.1.22.333"), "moe");
}
