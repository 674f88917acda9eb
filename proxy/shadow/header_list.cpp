// Captured header fields: see header_list.hpp.
#include "proxy/shadow/header_list.hpp"

namespace cutover::shadow {

HeaderList::HeaderList(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::size_t bytes = 0;
  for (const auto& [name, value] : fields) bytes += name.size() + value.size();
  reserve(fields.size(), bytes);
  for (const auto& [name, value] : fields) add(name, value);
}

void HeaderList::clear() {
  text_.clear();
  entries_.clear();
}

void HeaderList::reserve(std::size_t fields, std::size_t bytes) {
  entries_.reserve(fields);
  text_.reserve(bytes);
}

void HeaderList::add(std::string_view name, std::string_view value) {
  const std::size_t at = text_.size();
  text_.append(name).append(value);
  for (char *p = text_.data() + at, *end = p + name.size(); p != end; ++p)
    if (*p >= 'A' && *p <= 'Z') *p = static_cast<char>(*p - 'A' + 'a');
  entries_.push_back({static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(name.size()),
                      static_cast<std::uint32_t>(at + name.size()), static_cast<std::uint32_t>(value.size())});
}

}  // namespace cutover::shadow
