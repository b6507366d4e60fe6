// A deliberately tiny YAML reader for the repository's own, fixed-shape files
// (deploy/alerts.yml, deploy/alerts_test.yml): block mappings and sequences by indentation,
// `- key: value` compact items, plain / 'single' / "double" quoted scalars, `[]`, `{}` and
// comments. No anchors, flow collections with content, block scalars or multi-documents:
// those throw. Every scalar is returned as a JSON string (callers convert).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

namespace zipnet::ops {

struct YamlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

nlohmann::json parse_yaml_lite(std::string_view text);
nlohmann::json load_yaml_lite(const std::filesystem::path& file);

}  // namespace zipnet::ops
