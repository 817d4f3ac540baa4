#include "libcommon/http.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <unistd.h>
#include <utility>

#include <curl/curl.h>

#include "libcommon/deleter.hpp"
#include "libcommon/error.hpp"
#include "libcommon/log.hpp"

#include "cdm_version.hpp"

namespace cdm::http {

namespace {

using CurlHandle = std::unique_ptr<CURL, Deleter<curl_easy_cleanup>>;
using CurlList = std::unique_ptr<curl_slist, Deleter<curl_slist_free_all>>;

bool equalNoCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && equalNoCase(text.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view text) {
    constexpr std::string_view ws = " \t\r\n";
    const auto first = text.find_first_not_of(ws);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(ws) - first + 1);
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

void initCurl() {
    // curl_global_init is not thread-safe; a function-local static runs it exactly once.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        throw Error(Exit::Software,
                    std::string("unable to initialise libcurl: ") + curl_easy_strerror(rc));
    }
}

struct Sink {
    std::string body;
    std::vector<Header> headers;
    std::size_t cap = 0;
    bool tooLarge = false;
};

std::size_t onBody(char* data, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t n = size * count;
    if (sink->body.size() + n > sink->cap) {
        sink->tooLarge = true;
        return 0; // curl stops with CURLE_WRITE_ERROR
    }
    sink->body.append(data, n);
    return n;
}

std::size_t onHeader(char* data, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t n = size * count;
    const std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
        // A new status line (after a 100 Continue): only the final answer's headers count.
        sink->headers.clear();
        return n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
        return n; // the empty line at the end, or something that is not a header
    }
    if (sink->headers.size() >= 200) {
        return n; // no ACME answer has that many; do not grow without bound
    }
    sink->headers.push_back(Header{std::string(trim(line.substr(0, colon))),
                                   std::string(trim(line.substr(colon + 1)))});
    return n;
}

// "https://host:port" of a URL, "" when it has no scheme.
std::string originOf(const std::string& url) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) {
        return {};
    }
    const auto end = url.find_first_of("/?#", scheme + 3);
    return url.substr(0, end);
}

const std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<int> monthOf(std::string_view name) {
    for (std::size_t i = 0; i < months.size(); ++i) {
        if (equalNoCase(months[i], name)) {
            return static_cast<int>(i);
        }
    }
    return std::nullopt;
}

std::optional<int> number(std::string_view text, std::size_t minDigits, std::size_t maxDigits) {
    if (text.size() < minDigits || text.size() > maxDigits ||
        text.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
    }
    int value = 0;
    for (char c : text) {
        value = value * 10 + (c - '0');
    }
    return value;
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            ++i;
        }
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t') {
            ++i;
        }
        if (i > start) {
            out.push_back(text.substr(start, i - start));
        }
    }
    return out;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
long long daysFromCivil(long long y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const long long era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<long long>(doe) - 719468;
}

std::optional<std::time_t> makeTime(int year, int month0, int day, std::string_view hms) {
    if (hms.size() != 8 || hms[2] != ':' || hms[5] != ':') {
        return std::nullopt;
    }
    const auto h = number(hms.substr(0, 2), 2, 2);
    const auto m = number(hms.substr(3, 2), 2, 2);
    const auto s = number(hms.substr(6, 2), 2, 2);
    if (!h || !m || !s || *h > 23 || *m > 59 || *s > 60 || day < 1 || day > 31) {
        return std::nullopt;
    }
    const long long days =
        daysFromCivil(year, static_cast<unsigned>(month0 + 1), static_cast<unsigned>(day));
    return static_cast<std::time_t>(days * 86400 + *h * 3600 + *m * 60 + *s);
}

} // namespace

std::optional<std::string> Response::header(std::string_view name) const {
    for (const auto& h : headers) {
        if (equalNoCase(h.name, name)) {
            return h.value;
        }
    }
    return std::nullopt;
}

std::vector<std::string> Response::all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& h : headers) {
        if (equalNoCase(h.name, name)) {
            out.push_back(h.value);
        }
    }
    return out;
}

std::string userAgent() {
    return std::string("cdm/") + CDM_VERSION;
}

struct Client::Impl {
    Options options;
    CurlHandle curl;
};

Client::Client(Options options) : impl_(std::make_unique<Impl>()) {
    initCurl();
    if (!options.caBundle.empty() && ::access(options.caBundle.c_str(), R_OK) != 0) {
        throw Error(Exit::NoInput, "unable to read the CA bundle",
                    Location{options.caBundle, 0, {}});
    }
    if (options.userAgent.empty()) {
        options.userAgent = userAgent();
    }
    impl_->options = std::move(options);
    impl_->curl.reset(curl_easy_init());
    if (!impl_->curl) {
        throw Error(Exit::Software, "unable to create a libcurl handle");
    }
}

Client::~Client() = default;

Response Client::request(std::string_view method, const std::string& url,
                         const std::vector<std::string>& headers,
                         const std::optional<std::string>& body) {
    if (!startsWithNoCase(url, "https://") && !startsWithNoCase(url, "http://")) {
        throw Error(Exit::Usage, "'" + url + "' is not an http:// or https:// URL");
    }
    const Options& o = impl_->options;
    CURL* h = impl_->curl.get();
    CurlList list;
    for (const auto& line : headers) {
        curl_slist* grown = curl_slist_append(list.get(), line.c_str());
        if (grown == nullptr) {
            throw Error(Exit::Software, "unable to build the HTTP headers: out of memory");
        }
        (void)list.release(); // `grown` is the same list, one item longer
        list.reset(grown);
    }
    // No 100-continue round trip before a body.
    if (curl_slist* grown = curl_slist_append(list.get(), "Expect:"); grown != nullptr) {
        (void)list.release();
        list.reset(grown);
    }
    const std::string verb(method);
    std::array<char, CURL_ERROR_SIZE> errbuf{};
    Sink sink;
    sink.cap = o.maxResponseBytes;
    curl_easy_reset(h); // keeps the open connection, forgets the last request's options
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf.data());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min(o.timeout, o.connectTimeout).count()));
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, o.userAgent.c_str());
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(o.maxResponseBytes));
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (!o.caBundle.empty()) {
        curl_easy_setopt(h, CURLOPT_CAINFO, o.caBundle.c_str());
    }
    if (verb == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (verb != "GET" || body) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, verb.c_str());
    }
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    const auto t0 = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(h);
    ++requests_;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (rc != CURLE_OK) {
        std::string why = errbuf[0] != '\0' ? std::string(errbuf.data()) : curl_easy_strerror(rc);
        if (sink.tooLarge || rc == CURLE_FILESIZE_EXCEEDED) {
            why = "the answer is larger than " + std::to_string(o.maxResponseBytes) + " bytes";
        }
        log::debug("http: " + verb + " " + url + " failed after " + std::to_string(ms) +
                   " ms: " + why);
        throw Error(Exit::Unavailable, "unable to reach '" + url + "': " + why);
    }
    Response response;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    response.headers = std::move(sink.headers);
    response.body = std::move(sink.body);
    log::debug("http: " + verb + " " + url + " -> " + std::to_string(response.status) + " (" +
               std::to_string(response.body.size()) + " bytes, " + std::to_string(ms) + " ms)");
    return response;
}

std::optional<std::time_t> parseHttpDate(std::string_view value) {
    const auto w = words(trim(value));
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (w.size() == 6 && w[0].size() == 4 && w[0].back() == ',' && w[5] == "GMT") {
        const auto day = number(w[1], 2, 2);
        const auto month = monthOf(w[2]);
        const auto year = number(w[3], 4, 4);
        if (day && month && year) {
            return makeTime(*year, *month, *day, w[4]);
        }
        return std::nullopt;
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit years: within 50 years of 2000)
    if (w.size() == 4 && w[0].back() == ',' && w[3] == "GMT" && w[1].size() == 9 &&
        w[1][2] == '-' && w[1][6] == '-') {
        const auto day = number(w[1].substr(0, 2), 2, 2);
        const auto month = monthOf(w[1].substr(3, 3));
        const auto yy = number(w[1].substr(7, 2), 2, 2);
        if (day && month && yy) {
            return makeTime(*yy < 50 ? 2000 + *yy : 1900 + *yy, *month, *day, w[2]);
        }
        return std::nullopt;
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (w.size() == 5 && w[0].size() == 3) {
        const auto month = monthOf(w[1]);
        const auto day = number(w[2], 1, 2);
        const auto year = number(w[4], 4, 4);
        if (day && month && year) {
            return makeTime(*year, *month, *day, w[3]);
        }
    }
    return std::nullopt;
}

std::optional<std::time_t> parseRetryAfter(std::string_view value, std::time_t now) {
    const std::string_view v = trim(value);
    if (!v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos) {
        if (v.size() > 9) {
            return std::nullopt; // more than 30 years: not a delay anyone means
        }
        return now + static_cast<std::time_t>(std::stol(std::string(v)));
    }
    return parseHttpDate(v);
}

std::string resolveUrl(const std::string& base, const std::string& ref) {
    if (ref.find("://") != std::string::npos) {
        return ref;
    }
    if (ref.starts_with("//")) {
        const auto scheme = base.find("://");
        return (scheme == std::string::npos ? std::string("https:") : base.substr(0, scheme + 1)) +
               ref;
    }
    const std::string origin = originOf(base);
    if (ref.starts_with("/")) {
        return origin + ref;
    }
    // Relative to the base's directory (its path up to the last '/').
    std::string path = base.substr(origin.size());
    path = path.substr(0, path.find_first_of("?#"));
    const auto slash = path.rfind('/');
    path = slash == std::string::npos ? "/" : path.substr(0, slash + 1);
    return origin + path + ref;
}

std::vector<Link> parseLinks(const std::vector<std::string>& values, const std::string& base) {
    std::vector<Link> out;
    for (const auto& value : values) {
        std::size_t i = 0;
        while (i < value.size()) {
            const auto open = value.find('<', i);
            if (open == std::string::npos) {
                break;
            }
            const auto close = value.find('>', open);
            if (close == std::string::npos) {
                break;
            }
            const std::string target = value.substr(open + 1, close - open - 1);
            // Parameters up to the next link: a ',' outside quotes.
            std::size_t j = close + 1;
            bool quoted = false;
            std::string rel;
            std::string param;
            auto take = [&]() {
                const std::string_view p = trim(param);
                const auto eq = p.find('=');
                if (eq != std::string_view::npos && equalNoCase(trim(p.substr(0, eq)), "rel")) {
                    std::string_view v = trim(p.substr(eq + 1));
                    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
                        v = v.substr(1, v.size() - 2);
                    }
                    rel = lower(v);
                }
                param.clear();
            };
            for (; j < value.size(); ++j) {
                const char c = value[j];
                if (c == '"') {
                    quoted = !quoted;
                } else if (!quoted && (c == ';' || c == ',')) {
                    take();
                    if (c == ',') {
                        break;
                    }
                    continue;
                }
                param += c;
            }
            take();
            for (const auto rt : words(rel)) {
                out.push_back(Link{resolveUrl(base, target), std::string(rt)});
            }
            i = j + 1;
        }
    }
    return out;
}

std::vector<std::string> linksWithRel(const std::vector<Link>& links, std::string_view rel) {
    std::vector<std::string> out;
    for (const auto& l : links) {
        if (equalNoCase(l.rel, rel)) {
            out.push_back(l.url);
        }
    }
    return out;
}

} // namespace cdm::http
