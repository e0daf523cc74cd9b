// The HTTP listener's TLS: the certificate and key gRPC serves (ServerTls),
// loaded into a Boost.Asio ssl::context, so the dashboard and the API are
// reached with the same CA as the CLI and agents use.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace gantry::http {

// TLS 1.2 and later; no client certificate is asked for (HTTP callers
// authenticate with tokens).
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> MakeHttpTlsContext(
    const std::string& cert_chain_pem, const std::string& key_pem);

}  // namespace gantry::http
