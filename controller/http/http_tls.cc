#include "controller/http/http_tls.h"

#include <boost/asio/buffer.hpp>
#include <boost/system/system_error.hpp>

#include "absl/strings/str_cat.h"

namespace gantry::http {

namespace ssl = boost::asio::ssl;

absl::StatusOr<std::shared_ptr<ssl::context>> MakeHttpTlsContext(const std::string& cert_chain_pem,
                                                                 const std::string& key_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  if (!ec) {
    ctx->use_certificate_chain(boost::asio::buffer(cert_chain_pem.data(), cert_chain_pem.size()),
                               ec);
  }
  if (!ec) {
    ctx->use_private_key(boost::asio::buffer(key_pem.data(), key_pem.size()), ssl::context::pem,
                         ec);
  }
  if (ec) return absl::InternalError(absl::StrCat("HTTP TLS: ", ec.message()));
  return ctx;
}

}  // namespace gantry::http
