// SO_REUSEPORT listener binding: see listener.hpp.
#include "proxy/server/listener.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/detail/socket_option.hpp>

namespace cutover::server {

using boost::asio::ip::tcp;
using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::vector<tcp::acceptor> bind_reuseport(const std::vector<boost::asio::io_context*>& contexts,
                                          tcp::endpoint address, boost::system::error_code& ec) {
  std::vector<tcp::acceptor> out;
  for (auto* io : contexts) {
    tcp::acceptor a(*io);
    a.open(address.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.set_option(reuse_port(true), ec);
    if (!ec) a.bind(address, ec);
    if (!ec) a.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
      out.clear();
      return out;
    }
    if (address.port() == 0) address.port(a.local_endpoint().port());
    out.push_back(std::move(a));
  }
  return out;
}

void ListenerGate::count_error(int errno_value) {
  prometheus::Counter* c = errno_value == EMFILE ? errors_.emfile : errno_value == ENFILE ? errors_.enfile : errors_.other;
  if (c) c->Increment();
}

}  // namespace cutover::server
