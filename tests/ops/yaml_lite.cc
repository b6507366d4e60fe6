#include "ops/yaml_lite.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace zipnet::ops {
namespace {

struct Line {
  int indent;
  std::string text;  // without indentation and comments, right-trimmed
  int number;        // 1-based, for errors
};

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

// Removes a comment: '#' at the start or preceded by whitespace, outside quotes.
std::string strip_comment(const std::string& s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (quote == '"' && c == '\\') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
      return s.substr(0, i);
    }
  }
  return s;
}

class Parser {
 public:
  explicit Parser(std::vector<Line> lines) : lines_(std::move(lines)) {}

  nlohmann::json document() {
    if (lines_.empty()) return nullptr;
    auto v = block(0, lines_[0].indent);
    if (pos_ != lines_.size()) fail(lines_[pos_], "unexpected indentation");
    return v;
  }

 private:
  [[noreturn]] void fail(const Line& l, const std::string& why) {
    throw YamlError("yaml line " + std::to_string(l.number) + ": " + why + ": " + l.text);
  }

  static bool is_seq_item(const std::string& t) { return t == "-" || t.rfind("- ", 0) == 0; }

  nlohmann::json block(size_t start, int indent) {
    pos_ = start;
    if (is_seq_item(lines_[pos_].text)) return sequence(indent);
    return mapping(indent);
  }

  nlohmann::json sequence(int indent) {
    nlohmann::json arr = nlohmann::json::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           is_seq_item(lines_[pos_].text)) {
      Line& l = lines_[pos_];
      std::string rest = l.text == "-" ? "" : rtrim(l.text.substr(2));
      size_t lead = rest.find_first_not_of(' ');
      if (rest.empty() || lead == std::string::npos) {
        ++pos_;
        if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
          arr.push_back(block(pos_, lines_[pos_].indent));
        } else {
          arr.push_back(nullptr);
        }
        continue;
      }
      int item_indent = indent + 2 + static_cast<int>(lead);
      rest = rest.substr(lead);
      if (is_seq_item(rest) || key_split(rest).first) {
        // `- key: value` (or a nested `- - x`): the rest is a line at item_indent.
        l.indent = item_indent;
        l.text = rest;
        arr.push_back(block(pos_, item_indent));
      } else {
        arr.push_back(scalar(rest, l));
        ++pos_;
      }
    }
    return arr;
  }

  // Returns (true, key, value) when `t` is `key:` or `key: value`.
  struct KeySplit {
    bool ok = false;
    std::string key, value;
    explicit operator bool() const { return ok; }
  };
  static std::pair<bool, KeySplit> key_split_impl(const std::string& t) {
    KeySplit k;
    char quote = 0;
    size_t i = 0;
    if (!t.empty() && (t[0] == '"' || t[0] == '\'')) {
      quote = t[0];
      i = t.find(quote, 1);
      if (i == std::string::npos) return {false, k};
      k.key = t.substr(1, i - 1);
      ++i;
      if (i >= t.size() || t[i] != ':') return {false, k};
    } else {
      for (; i < t.size(); ++i) {
        if (t[i] == ':' && (i + 1 == t.size() || t[i + 1] == ' ')) break;
        if (t[i] == '"' || t[i] == '\'' || t[i] == '{' || t[i] == '[') return {false, k};
      }
      if (i >= t.size()) return {false, k};
      k.key = rtrim(t.substr(0, i));
    }
    std::string v = i + 1 < t.size() ? t.substr(i + 1) : "";
    size_t f = v.find_first_not_of(' ');
    k.value = f == std::string::npos ? "" : v.substr(f);
    k.ok = !k.key.empty();
    return {k.ok, k};
  }
  static std::pair<bool, KeySplit> key_split(const std::string& t) { return key_split_impl(t); }

  nlohmann::json mapping(int indent) {
    nlohmann::json obj = nlohmann::json::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent &&
           !is_seq_item(lines_[pos_].text)) {
      const Line& l = lines_[pos_];
      auto [ok, kv] = key_split(l.text);
      if (!ok) fail(l, "expected `key: value`");
      if (obj.contains(kv.key)) fail(l, "duplicate key " + kv.key);
      ++pos_;
      if (!kv.value.empty()) {
        obj[kv.key] = scalar(kv.value, l);
      } else if (pos_ < lines_.size() && lines_[pos_].indent > indent) {
        obj[kv.key] = block(pos_, lines_[pos_].indent);
      } else if (pos_ < lines_.size() && lines_[pos_].indent == indent &&
                 is_seq_item(lines_[pos_].text)) {
        obj[kv.key] = sequence(indent);  // a sequence may sit at its key's indentation
      } else {
        obj[kv.key] = nullptr;
      }
    }
    return obj;
  }

  nlohmann::json scalar(const std::string& s, const Line& l) {
    if (s == "[]") return nlohmann::json::array();
    if (s == "{}") return nlohmann::json::object();
    if (s[0] == '[' || s[0] == '{' || s[0] == '|' || s[0] == '>' || s[0] == '&' || s[0] == '*')
      fail(l, "unsupported YAML construct");
    if (s[0] == '\'') {
      std::string out;
      size_t i = 1;
      for (;; ++i) {
        if (i >= s.size()) fail(l, "unterminated single-quoted scalar");
        if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            out += '\'';
            ++i;
            continue;
          }
          break;
        }
        out += s[i];
      }
      if (rtrim(s.substr(i + 1)) != "") fail(l, "text after quoted scalar");
      return out;
    }
    if (s[0] == '"') {
      std::string out;
      size_t i = 1;
      for (;; ++i) {
        if (i >= s.size()) fail(l, "unterminated double-quoted scalar");
        char c = s[i];
        if (c == '"') break;
        if (c == '\\') {
          if (++i >= s.size()) fail(l, "bad escape");
          char e = s[i];
          switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            default: fail(l, std::string("unsupported escape \\") + e);
          }
          continue;
        }
        out += c;
      }
      if (rtrim(s.substr(i + 1)) != "") fail(l, "text after quoted scalar");
      return out;
    }
    return rtrim(s);
  }

  std::vector<Line> lines_;
  size_t pos_ = 0;
};

}  // namespace

nlohmann::json parse_yaml_lite(std::string_view text) {
  std::vector<Line> lines;
  std::istringstream in{std::string(text)};
  std::string raw;
  int n = 0;
  while (std::getline(in, raw)) {
    ++n;
    if (raw.find('\t') != std::string::npos && raw.find_first_not_of(" \t") != std::string::npos &&
        raw.find('\t') < raw.find_first_not_of(" \t"))
      throw YamlError("yaml line " + std::to_string(n) + ": tab indentation");
    std::string t = rtrim(strip_comment(raw));
    size_t f = t.find_first_not_of(' ');
    if (f == std::string::npos) continue;
    if (t.rfind("---", 0) == 0 && f == 0) {
      if (!lines.empty()) throw YamlError("multi-document YAML is not supported");
      continue;
    }
    lines.push_back({static_cast<int>(f), t.substr(f), n});
  }
  return Parser(std::move(lines)).document();
}

nlohmann::json load_yaml_lite(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw YamlError("cannot read " + file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_yaml_lite(ss.str());
}

}  // namespace zipnet::ops
