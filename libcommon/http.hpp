#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// A small HTTP client over libcurl for the ACME client and the HTTP DNS providers: one
// handle per Client (so the connection is kept open between requests), TLS verification
// always on (a CA bundle file may replace the system store; nothing turns it off), a
// timeout per request, a cap on the size of an answer, no redirects followed. Plus the two
// header grammars ACME needs: Retry-After (RFC 9110 §10.2.3) and Link (RFC 8288).

namespace cdm::http {

struct Options {
    std::string caBundle;                             // PEM file of trusted roots; "" = system
    std::chrono::milliseconds timeout{30000};         // a whole request
    std::chrono::milliseconds connectTimeout{10000};  // connecting (and the TLS handshake)
    std::size_t maxResponseBytes = 8UL * 1024 * 1024; // a longer body is an error
    std::string userAgent;                            // "" = userAgent()
};

struct Header {
    std::string name;  // as the server spelled it
    std::string value; // without surrounding white space
};

struct Response {
    long status = 0;
    std::vector<Header> headers; // in the order received; repeated headers are kept
    std::string body;

    // The first header called `name` (case-insensitive); nullopt when there is none.
    std::optional<std::string> header(std::string_view name) const;
    // Every header called `name` (case-insensitive), in order.
    std::vector<std::string> all(std::string_view name) const;
};

// "cdm/<version>", what every request says it is.
std::string userAgent();

class Client {
public:
    // Throws Error(Exit::NoInput) when the CA bundle file cannot be read.
    explicit Client(Options options = {});
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // One request. `headers` are whole lines ("Content-Type: application/jose+json"); `body`
    // is sent when given (also for methods other than POST). HEAD reads no body. Any HTTP
    // status is returned as it is. Throws Error(Exit::Unavailable) naming the URL and
    // libcurl's reason when no answer comes (name not resolved, connection refused, TLS
    // failure, timeout) or when the answer is larger than the cap; Error(Exit::Usage) for a
    // URL that is not http:// or https://.
    Response request(std::string_view method, const std::string& url,
                     const std::vector<std::string>& headers = {},
                     const std::optional<std::string>& body = std::nullopt);

    // Requests made by this client.
    std::size_t requests() const { return requests_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::size_t requests_ = 0;
};

// A Retry-After value as a point in time: delta-seconds added to `now`, or an HTTP-date
// (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", also the obsolete RFC 850 and asctime forms).
// nullopt when it is neither.
std::optional<std::time_t> parseRetryAfter(std::string_view value, std::time_t now);

// "Sun, 06 Nov 1994 08:49:37 GMT" -> its time; nullopt for anything else.
std::optional<std::time_t> parseHttpDate(std::string_view value);

struct Link {
    std::string url; // resolved against the request's URL when it is relative
    std::string rel; // one relation type, lower-case ("alternate", "up", "index")
};

// Every link in the Link header values `values` (each may hold several, comma-separated),
// one entry per relation type (rel="a b" gives two). `base` is the URL the header came from.
// Malformed parts are skipped.
std::vector<Link> parseLinks(const std::vector<std::string>& values, const std::string& base);

// The URLs of `links` with relation `rel`, in order.
std::vector<std::string> linksWithRel(const std::vector<Link>& links, std::string_view rel);

// `ref` resolved against `base` as far as ACME needs: absolute URLs as they are,
// "//host/path", "/path" and "path" relative to `base`'s origin and directory.
std::string resolveUrl(const std::string& base, const std::string& ref);

} // namespace cdm::http
