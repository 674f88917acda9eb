// The header fields of one captured response, for shadow comparison: names lower-cased, values as
// received, in received order, all their bytes in one string (one allocation per response once
// warm, instead of two strings per field).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cutover::shadow {

class HeaderList {
 public:
  struct Field {
    std::string_view name;   // lower-case ASCII
    std::string_view value;  // as received (Beast's parser has trimmed surrounding whitespace)
    bool operator==(const Field&) const = default;
  };

  HeaderList() = default;
  // For tests and literals: {{"content-type", "text/plain"}, ...}; names are lower-cased.
  HeaderList(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

  // Empties the list, keeping its capacity.
  void clear();
  // Room for `fields` fields of `bytes` name and value bytes in total (an optimization only).
  void reserve(std::size_t fields, std::size_t bytes);
  // Appends one field, lower-casing `name`. Names and values up to 4 GiB each (a head never
  // comes near: the parsers bound it to 64 KiB).
  void add(std::string_view name, std::string_view value);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  Field operator[](std::size_t i) const {
    const Entry& e = entries_[i];
    return {std::string_view(text_).substr(e.name_at, e.name_size), std::string_view(text_).substr(e.value_at, e.value_size)};
  }

 private:
  struct Entry {
    std::uint32_t name_at, name_size, value_at, value_size;
  };
  std::string text_;
  std::vector<Entry> entries_;
};

}  // namespace cutover::shadow
