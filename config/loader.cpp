// Loads the YAML config (SPEC "Config") into config::Config, collecting every problem with its
// FILE:LINE:COL so `cutover --check` can print them all in one pass. yaml-cpp does the parsing;
// config/sections/ reads each section, config/cross_checks.cpp checks what spans them.
#include "config/loader.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <tuple>

#include "config/cross_checks.hpp"
#include "config/sections/sections.hpp"
#include "config/yaml_reader.hpp"

namespace cutover::config {

std::string Diagnostic::str() const {
  return file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.col) + ": " + message;
}

namespace {

namespace fs = std::filesystem;
using detail::to_mark;

// A config larger than this is certainly a mistake (a log file passed by accident); refuse it
// before handing it to the parser.
constexpr std::size_t kMaxConfigBytes = 16u << 20;

// Records where each YAML document starts; ignores everything else (the document count pass).
struct DocumentStarts : YAML::EventHandler {
  YAML::Mark last;
  void OnDocumentStart(const YAML::Mark& m) override { last = m; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

LoadResult run(std::string_view yaml, const std::string& file, fs::path base_dir) {
  detail::Reader r(file, std::move(base_dir));
  detail::Document doc;
  doc.config.path = file;
  try {
    // Count the documents with the event parser first, stopping at the second: yaml-cpp 0.7's
    // LoadAll() loops forever, allocating, on some inputs (a lone ',' is one, found by
    // fuzz/config_fuzz.cpp; upstream bug jbeder/yaml-cpp#1040), producing empty documents without end.
    const std::string text(yaml);
    std::optional<Mark> second;
    {
      std::istringstream in(text);
      YAML::Parser parser(in);
      DocumentStarts starts;
      for (std::size_t docs = 0; docs < 2 && parser.HandleNextDocument(starts);)
        if (++docs == 2) second = to_mark(starts.last);
    }
    const YAML::Node root = second ? YAML::Node() : YAML::Load(text);
    if (second) {
      r.error(*second, "config must be a single YAML document (a second one starts here)");
    } else if (root.IsNull()) {
      r.error({1, 1}, "config is empty: expected a mapping with 'clusters' and 'listeners'");
    } else {
      detail::read_top(r, root, doc);
      detail::cross_check(r, doc);
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own message for this is a bare "bad file".
    r.error(to_mark(e.mark), "nesting is too deep (more than " + std::to_string(e.depth()) + " levels)");
  } catch (const YAML::Exception& e) {
    // ParserException (syntax) and anything else yaml-cpp raises while building nodes.
    r.error(to_mark(e.mark), e.msg);
  } catch (const std::exception& e) {
    r.error({}, std::string("internal error while loading config: ") + e.what());
  } catch (...) {
    r.error({}, "internal error while loading config");
  }
  LoadResult& result = r.result();
  auto by_position = [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.mark.line, a.mark.col) < std::tie(b.mark.line, b.mark.col);
  };
  std::stable_sort(result.errors.begin(), result.errors.end(), by_position);
  std::stable_sort(result.warnings.begin(), result.warnings.end(), by_position);
  if (result.errors.empty()) result.config = std::move(doc.config);
  return std::move(result);
}

LoadResult load_impl(std::string_view yaml, const std::string& file_name, fs::path base_dir) {
  try {
    return run(yaml, file_name, std::move(base_dir));
  } catch (...) {
    // Only allocation failure can get here; still honour "no exceptions escape".
    LoadResult r;
    r.errors.push_back({file_name, {}, "internal error while loading config"});
    return r;
  }
}

}  // namespace

LoadResult load_string(std::string_view yaml, const std::string& file_name) {
  return load_impl(yaml, file_name, fs::path(file_name).parent_path());
}

std::vector<std::string> documented_keys() {
  std::vector<std::string> keys;
  detail::list_top_keys(keys, "");
  return keys;
}

LoadResult load_file(const std::string& path) {
  auto fail = [&](std::string msg) {
    LoadResult r;
    r.errors.push_back({path, {}, std::move(msg)});
    return r;
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(std::string("cannot read config file: ") + std::strerror(errno));
  std::string data;
  std::array<char, 64 * 1024> buf;
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    data.append(buf.data(), n);
    if (data.size() > kMaxConfigBytes)
      return fail("cannot read config file: larger than " + std::to_string(kMaxConfigBytes >> 20) + " MiB");
    if (n < buf.size()) {
      if (std::ferror(f.get())) return fail(std::string("cannot read config file: ") + std::strerror(errno));
      break;
    }
  }
  // Resolve relative paths against an absolute directory so a later chdir cannot change them;
  // diagnostics keep the path as the user gave it.
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  fs::path base = ec ? fs::path(path).parent_path() : abs.lexically_normal().parent_path();
  return load_impl(data, path, std::move(base));
}

}  // namespace cutover::config
