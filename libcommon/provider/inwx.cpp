// The inwx provider: INWX's DomRobot JSON-RPC API, the only provider cryptdomainmgr had
// (dnsuptools/inwxwrapper.py). Written from INWX's public API documentation: every call is an
// HTTPS POST of {"method": ..., "params": {...}} to .../jsonrpc/, answered by
// {"code": ..., "msg": ..., "resData": {...}}; account.login sets the session cookie
// "domrobot", which every later call sends back. The pure parts are in inwx.hpp.

#include "libcommon/provider/inwx.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "libcommon/deleter.hpp"
#include "libcommon/error.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/provider/providers.hpp"

#include "cdm_version.hpp"

namespace cdm::provider {

namespace json = boost::json;

namespace {

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// "www.example.test." -> "www.example.test"; "." -> "".
std::string withoutDot(std::string_view n) {
    if (!n.empty() && n.back() == '.') {
        n.remove_suffix(1);
    }
    return std::string(n);
}

std::vector<std::string> fields(std::string_view data) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < data.size()) {
        while (i < data.size() && data[i] == ' ') {
            ++i;
        }
        const std::size_t start = i;
        while (i < data.size() && data[i] != ' ') {
            ++i;
        }
        if (i > start) {
            out.emplace_back(data.substr(start, i - start));
        }
    }
    return out;
}

std::string describe(const record::Record& rr) {
    return quoted(rr.name + " " + std::string(record::toString(rr.type)) + " " + rr.data);
}

// A target as INWX takes it: without the final dot, which INWX adds itself. The root stays
// "." where it means "no service" (RFC 7505 null MX, RFC 2782 SRV), which INWX accepts.
std::string target(const record::Record& rr, std::string_view n, bool rootAllowed) {
    if (n == "." || n.empty()) {
        if (rootAllowed) {
            return ".";
        }
        throw Error(Exit::DataErr, "INWX cannot hold " + describe(rr) + ": its target is the root");
    }
    return withoutDot(n);
}

bool isLoopback(std::string_view host) {
    if (lower(host) == "localhost" || host == "::1") {
        return true;
    }
    std::array<unsigned char, 4> v4{};
    const std::string h(host);
    return inet_pton(AF_INET, h.c_str(), v4.data()) == 1 && v4[0] == 127;
}

} // namespace

namespace inwx {

InwxRecord toInwx(const record::Record& rr, std::string_view zone) {
    if (!name::isSubdomain(rr.name, zone)) {
        throw Error(Exit::DataErr, describe(rr) + " is not in zone " + quoted(zone));
    }
    InwxRecord out;
    out.name = withoutDot(rr.name);
    out.type = std::string(record::toString(rr.type));
    out.ttl = rr.ttl;
    const auto f = fields(rr.data);
    const auto field = [&](std::size_t i) -> const std::string& {
        if (i >= f.size()) {
            throw Error(Exit::DataErr, describe(rr) + " has too few fields");
        }
        return f[i];
    };
    switch (rr.type) {
    case record::Type::CNAME:
    case record::Type::NS:
        out.content = target(rr, field(0), false);
        break;
    case record::Type::MX:
        out.prio = static_cast<std::uint32_t>(std::stoul(field(0)));
        out.content = target(rr, field(1), true);
        break;
    case record::Type::SRV:
        out.prio = static_cast<std::uint32_t>(std::stoul(field(0)));
        out.content = field(1) + " " + field(2) + " " + target(rr, field(3), true);
        break;
    case record::Type::TXT:
        out.content = record::txtText(rr.data);
        // INWX takes the text as it is and splits it into strings itself, but it changes
        // quotes and backslashes (doubles some, drops others), so such a record would never
        // read back as sent: refuse it rather than diff it forever.
        if (out.content.find_first_of("\"\\") != std::string::npos) {
            throw Error(Exit::DataErr, "INWX cannot hold " + describe(rr) +
                                           ": it changes '\"' and '\\' in TXT text");
        }
        if (out.content.empty() || out.content.back() == ' ') {
            throw Error(Exit::DataErr, "INWX cannot hold " + describe(rr) +
                                           ": it drops empty TXT text and trailing blanks");
        }
        break;
    default: // A, AAAA, SOA, TLSA, CAA: as cdm prints them
        out.content = rr.data;
        break;
    }
    return out;
}

std::optional<record::Record> fromInwx(const InwxRecord& r, std::string_view zone) {
    const auto type = record::typeFromString(r.type);
    if (!type || r.type.rfind("TYPE", 0) == 0) {
        return std::nullopt;
    }
    std::string owner;
    if (r.name.empty() || r.name == "@") {
        owner = name::normalize(zone);
    } else {
        owner = name::normalize(r.name);
        if (!name::isSubdomain(owner, zone)) {
            owner = name::normalize(r.name, zone);
        }
    }
    std::string data;
    switch (*type) {
    case record::Type::MX:
    case record::Type::SRV:
        data = std::to_string(r.prio) + " " + r.content;
        break;
    case record::Type::TXT:
        data = record::txtFromText(r.content);
        // A record made elsewhere (the web interface, another tool) may hold zone-file
        // strings: "v=DKIM1; k=rsa; " "p=...".
        if (r.content.size() >= 2 && r.content.front() == '"' && r.content.back() == '"') {
            try {
                data = record::canonical(record::Type::TXT, r.content);
            } catch (const Error&) {
                // not zone-file strings after all: the text itself
            }
        }
        break;
    default:
        data = r.content;
        break;
    }
    try {
        return record::Record::make(owner, *type, r.ttl, data);
    } catch (const Error& e) {
        throw Error(Exit::DataErr, "INWX record " +
                                       quoted(r.name + " " + r.type + " " + r.content) +
                                       " does not parse: " + e.message());
    }
}

std::string endpoint(const std::optional<std::string>& apiUrl) {
    if (!apiUrl || apiUrl->empty() || lower(*apiUrl) == "live") {
        return std::string(liveUrl);
    }
    if (lower(*apiUrl) == "ote") {
        return std::string(oteUrl);
    }
    const std::string& url = *apiUrl;
    const auto bad = [&](const std::string& why) {
        return Error(Exit::Config, "api_url " + quoted(url) + " " + why);
    };
    const auto sep = url.find("://");
    if (sep == std::string::npos) {
        throw bad("is not an http(s) URL (or 'live', 'ote')");
    }
    const std::string scheme = lower(url.substr(0, sep));
    if (scheme != "https" && scheme != "http") {
        throw bad("is not an http(s) URL (or 'live', 'ote')");
    }
    const std::string rest = url.substr(sep + 3);
    const auto end = rest.find_first_of("/?#");
    const std::string authority = rest.substr(0, end);
    std::string path = end == std::string::npos ? std::string() : rest.substr(end);
    if (authority.find('@') != std::string::npos) {
        throw bad("holds user information: give the user and password as keys, not in the URL");
    }
    std::string host;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string::npos) {
            throw bad("has an unclosed '['");
        }
        host = authority.substr(1, close - 1);
    } else {
        host = authority.substr(0, authority.rfind(':'));
    }
    if (host.empty()) {
        throw bad("has no host");
    }
    if (lower(path).find("xmlrpc") != std::string::npos) {
        throw bad("is INWX's XML-RPC endpoint; cdm speaks its JSON-RPC API at '/jsonrpc/'");
    }
    if (scheme == "http" && !isLoopback(host)) {
        throw bad("is plain http to a remote host: the password would cross the network "
                  "unencrypted (plain http is only for a local stand-in on a loopback address)");
    }
    if (path.empty() || path == "/") {
        path = "/jsonrpc/";
    }
    return scheme + "://" + authority + path;
}

std::optional<std::vector<std::uint8_t>> base32Decode(std::string_view text) {
    std::vector<std::uint8_t> out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(std::toupper(static_cast<unsigned char>(ch)));
        std::uint32_t v = 0;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= '2' && c <= '7') {
            v = c - '2' + 26;
        } else if (c == '=' || c == ' ' || c == '\t' || c == '-') {
            continue;
        } else {
            return std::nullopt;
        }
        buffer = (buffer << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((buffer >> bits) & 0xff));
        }
    }
    if (out.empty()) {
        return std::nullopt;
    }
    return out;
}

std::string totp(std::span<const std::uint8_t> key, std::uint64_t unixTime, unsigned digits,
                 unsigned step) {
    if (digits < 6 || digits > 9 || step == 0) {
        throw Error(Exit::Software, "TOTP with " + std::to_string(digits) + " digits and step " +
                                        std::to_string(step) + " is not supported");
    }
    std::uint64_t counter = unixTime / step;
    std::array<unsigned char, 8> message{};
    for (std::size_t i = message.size(); i-- > 0;) {
        message[i] = static_cast<unsigned char>(counter & 0xff);
        counter >>= 8;
    }
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int macLen = 0;
    if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), message.data(), message.size(),
             mac.data(), &macLen) == nullptr ||
        macLen != 20) {
        throw Error(Exit::Software, "unable to compute HMAC-SHA1 for the TOTP code");
    }
    // RFC 4226 §5.3: dynamic truncation.
    const unsigned offset = mac[19] & 0x0fU;
    const std::uint32_t binary = (static_cast<std::uint32_t>(mac[offset] & 0x7fU) << 24) |
                                 (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                                 (static_cast<std::uint32_t>(mac[offset + 2]) << 8) |
                                 static_cast<std::uint32_t>(mac[offset + 3]);
    std::uint32_t modulus = 1;
    for (unsigned i = 0; i < digits; ++i) {
        modulus *= 10;
    }
    std::string code = std::to_string(binary % modulus);
    OPENSSL_cleanse(mac.data(), mac.size());
    return std::string(digits - code.size(), '0') + code;
}

bool isTransient(int code) {
    return code == 2400 || code == 2500 || code == 2502;
}

Exit exitFor(int code, bool recordCall) {
    if (code >= 2200 && code <= 2202) {
        return Exit::NoPerm;
    }
    if (recordCall && code >= 2000 && code < 2400) {
        return Exit::DataErr;
    }
    return Exit::Unavailable;
}

std::chrono::milliseconds backoff(unsigned retry, std::chrono::milliseconds first) {
    constexpr std::chrono::milliseconds cap = std::chrono::seconds(60);
    if (first <= std::chrono::milliseconds::zero()) {
        return std::chrono::milliseconds::zero();
    }
    std::chrono::milliseconds wait = first;
    for (unsigned i = 0; i < retry && wait < cap; ++i) {
        wait *= 2;
    }
    return std::min(wait, cap);
}

} // namespace inwx

namespace {

using CurlEasy = std::unique_ptr<CURL, Deleter<curl_easy_cleanup>>;
using CurlList = std::unique_ptr<curl_slist, Deleter<curl_slist_free_all>>;

constexpr std::size_t maxReply = std::size_t{64} << 20U;

void wipe(std::string& s) {
    if (!s.empty()) {
        OPENSSL_cleanse(s.data(), s.size());
    }
    s.clear();
}

void append(CurlList& list, const std::string& line) {
    curl_slist* head = curl_slist_append(list.get(), line.c_str());
    if (head == nullptr) {
        throw Error(Exit::Software, "unable to build the HTTP headers");
    }
    if (head != list.get()) {
        (void)list.release();
        list.reset(head);
    }
}

bool allowHttpOnly(CURL* c) {
#if LIBCURL_VERSION_NUM >= 0x075500
    return curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    return curl_easy_setopt(c, CURLOPT_PROTOCOLS,
                            static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
}

struct HttpReply {
    long status = 0;
    std::string body;
    std::string cookie; // the value of a "domrobot" Set-Cookie, when one came
};

// One libcurl handle for the whole session, so that the TLS connection is reused.
class Http {
public:
    Http(std::string url, long timeoutSeconds, std::string cabundle)
        : url_(std::move(url)), timeout_(timeoutSeconds), cabundle_(std::move(cabundle)) {
        curl_.reset(curl_easy_init());
        if (!curl_) {
            throw Error(Exit::Software, "unable to create a libcurl handle");
        }
        append(headers_, "Content-Type: application/json; charset=UTF-8");
        append(headers_, "Accept: application/json");
        append(headers_, "Expect:");
    }

    // POST `body`; throws Error(Exit::Unavailable) when no HTTP answer came.
    HttpReply post(const std::string& body, const std::string& cookie) {
        HttpReply reply;
        CURL* c = curl_.get();
        curl_easy_reset(c);
        const std::string agent = std::string("cdm/") + CDM_VERSION;
        const std::string cookieLine = cookie.empty() ? std::string() : "domrobot=" + cookie;
        bool ok =
            curl_easy_setopt(c, CURLOPT_URL, url_.c_str()) == CURLE_OK && allowHttpOnly(c) &&
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, std::min(timeout_, 10L)) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_USERAGENT, agent.c_str()) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_.get()) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data()) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(body.size())) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Http::onBody) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Http::onHeader) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply) == CURLE_OK &&
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_.data()) == CURLE_OK;
        if (ok && !cabundle_.empty()) {
            ok = curl_easy_setopt(c, CURLOPT_CAINFO, cabundle_.c_str()) == CURLE_OK;
        }
        if (ok && !cookieLine.empty()) {
            ok = curl_easy_setopt(c, CURLOPT_COOKIE, cookieLine.c_str()) == CURLE_OK;
        }
        if (!ok) {
            throw Error(Exit::Software, "unable to set the libcurl options for " + quoted(url_));
        }
        error_.fill('\0');
        const CURLcode rc = curl_easy_perform(c);
        // The handle keeps no pointer into this frame once reset; the cookie line is a secret.
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
        curl_easy_reset(c);
        std::string cookieCopy = cookieLine;
        wipe(cookieCopy);
        if (rc != CURLE_OK) {
            std::string why =
                error_[0] != '\0' ? std::string(error_.data()) : curl_easy_strerror(rc);
            if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
                why = "TLS certificate verification failed: " + why;
            }
            throw Error(Exit::Unavailable, "unable to reach INWX at " + quoted(url_) + ": " + why);
        }
        return reply;
    }

    const std::string& url() const { return url_; }

private:
    static size_t onBody(char* data, size_t size, size_t count, void* user) {
        auto* reply = static_cast<HttpReply*>(user);
        const size_t n = size * count;
        if (reply->body.size() + n > maxReply) {
            return 0; // aborts the transfer: no answer of INWX is this large
        }
        reply->body.append(data, n);
        return n;
    }

    static size_t onHeader(char* data, size_t size, size_t count, void* user) {
        auto* reply = static_cast<HttpReply*>(user);
        const size_t n = size * count;
        std::string_view line(data, n);
        constexpr std::string_view prefix = "set-cookie:";
        if (line.size() > prefix.size()) {
            std::string head(line.substr(0, prefix.size()));
            std::transform(head.begin(), head.end(), head.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            if (head == prefix) {
                std::string_view v = line.substr(prefix.size());
                while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
                    v.remove_prefix(1);
                }
                constexpr std::string_view cookieName = "domrobot=";
                if (v.substr(0, cookieName.size()) == cookieName) {
                    v.remove_prefix(cookieName.size());
                    v = v.substr(0, v.find_first_of(";\r\n"));
                    reply->cookie.assign(v);
                }
            }
        }
        return n;
    }

    std::string url_;
    long timeout_;
    std::string cabundle_;
    CurlEasy curl_;
    CurlList headers_;
    std::array<char, CURL_ERROR_SIZE> error_{};
};

struct Answer {
    int code = 0;
    std::string msg;
    json::object resData;
};

// "code 2302 'Object exists'" with INWX's reason when it gave one.
std::string codeText(const Answer& a) {
    std::string text = "INWX code " + std::to_string(a.code);
    if (!a.msg.empty()) {
        text += " " + quoted(a.msg);
    }
    return text;
}

std::string stringOf(const json::value* v) {
    if (v == nullptr) {
        return {};
    }
    if (v->is_string()) {
        return std::string(v->as_string());
    }
    if (v->is_int64()) {
        return std::to_string(v->as_int64());
    }
    if (v->is_uint64()) {
        return std::to_string(v->as_uint64());
    }
    return {};
}

std::uint32_t numberOf(const json::value* v) {
    if (v == nullptr) {
        return 0;
    }
    if (v->is_int64() && v->as_int64() >= 0 && v->as_int64() <= 0xffffffffLL) {
        return static_cast<std::uint32_t>(v->as_int64());
    }
    if (v->is_uint64() && v->as_uint64() <= 0xffffffffULL) {
        return static_cast<std::uint32_t>(v->as_uint64());
    }
    if (v->is_string()) {
        const auto& s = v->as_string();
        if (!s.empty() && s.size() <= 10 &&
            std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            const unsigned long long n = std::stoull(std::string(s));
            if (n <= 0xffffffffULL) {
                return static_cast<std::uint32_t>(n);
            }
        }
    }
    return 0;
}

// The params of a call as the debug log shows them: secrets left out.
std::string forLog(const json::object& params) {
    json::object shown = params;
    for (const char* secret : {"pass", "tan"}) {
        if (shown.contains(secret)) {
            shown[secret] = "********";
        }
    }
    return json::serialize(shown);
}

// One logged-in DomRobot session: calls, retries of transient codes, login and 2FA.
class Session {
public:
    Session(std::string url, std::string user, std::string password,
            std::optional<std::vector<std::uint8_t>> tfaKey, long timeoutSeconds,
            std::string cabundle, unsigned retries, std::chrono::milliseconds retryWait)
        : http_(std::move(url), timeoutSeconds, std::move(cabundle)), user_(std::move(user)),
          password_(std::move(password)), tfaKey_(std::move(tfaKey)), retries_(retries),
          retryWait_(retryWait) {}

    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    ~Session() {
        if (loggedIn_ && !broken_) {
            try {
                (void)once("account.logout", {});
            } catch (...) {
                // best effort: the session expires on INWX's side anyway
            }
        }
        wipe(password_);
        wipe(cookie_);
        if (tfaKey_) {
            OPENSSL_cleanse(tfaKey_->data(), tfaKey_->size());
        }
    }

    std::size_t calls() const { return calls_; }
    const std::string& url() const { return http_.url(); }
    const std::string& user() const { return user_; }

    // `method` after logging in, sent again after a pause while INWX answers 2400, 2500 or
    // 2502 (at most `retries` times). Returns INWX's answer, whatever its code.
    Answer call(const std::string& method, const json::object& params) {
        login();
        return retrying(method, params);
    }

    // The message for a call that failed with `a` after its retries.
    std::string failure(const std::string& what, const Answer& a) const {
        std::string text = what + " at " + quoted(url()) + " failed: " + codeText(a);
        if (inwx::isTransient(a.code)) {
            text += " (still after " + std::to_string(retries_) + " retries)";
        }
        return text;
    }

private:
    Answer retrying(const std::string& method, const json::object& params) {
        for (unsigned retry = 0;; ++retry) {
            Answer a = once(method, params);
            if (!inwx::isTransient(a.code) || retry >= retries_) {
                return a;
            }
            const auto wait = inwx::backoff(retry, retryWait_);
            log::warn("INWX answered " + method + " with code " + std::to_string(a.code) +
                      (a.msg.empty() ? std::string() : " " + quoted(a.msg)) + ", trying again in " +
                      std::to_string(wait.count()) + " ms (retry " + std::to_string(retry + 1) +
                      " of " + std::to_string(retries_) + ")");
            std::this_thread::sleep_for(wait);
        }
    }

    void login() {
        if (loggedIn_) {
            return;
        }
        json::object params{{"user", user_}, {"pass", password_}, {"lang", "en"}};
        Answer a = retrying("account.login", params);
        wipeString(params, "pass");
        if (a.code != inwx::codeOk) {
            const Exit code = inwx::isTransient(a.code) ? Exit::Unavailable : Exit::NoPerm;
            throw Error(code, failure("login as " + quoted(user_), a));
        }
        const std::string tfa = stringOf(a.resData.if_contains("tfa"));
        if (!tfa.empty() && tfa != "0") {
            if (!tfaKey_) {
                throw Error(Exit::NoPerm,
                            "INWX account " + quoted(user_) + " at " + quoted(url()) +
                                " asks for a two-factor code (" + quoted(tfa) +
                                "): set tfa_secret_file to a file holding its TOTP secret");
            }
            // RFC 6238 §5.2: a verifier takes each code once. When this process has already
            // unlocked with the code of the current 30-second step (another zone of the same
            // account), wait for the next step rather than be refused.
            static std::mutex tanMutex;
            static std::map<std::string, std::uint64_t> lastStep; // by the secret's SHA-256
            const std::lock_guard<std::mutex> lock(tanMutex);
            const std::string which = digest(*tfaKey_);
            std::uint64_t now = unixNow();
            if (const auto it = lastStep.find(which);
                it != lastStep.end() && now / 30 == it->second) {
                const std::uint64_t wait = 30 - now % 30;
                log::info("waiting " + std::to_string(wait) +
                          " s for the next two-factor code (each code is used once)");
                std::this_thread::sleep_for(std::chrono::seconds(wait));
                now = unixNow();
            }
            json::object unlock{{"tan", inwx::totp(*tfaKey_, now)}};
            Answer u = retrying("account.unlock", unlock);
            wipeString(unlock, "tan");
            if (u.code == inwx::codeOk) {
                lastStep[which] = now / 30;
            }
            if (u.code != inwx::codeOk) {
                const Exit code = inwx::isTransient(u.code) ? Exit::Unavailable : Exit::NoPerm;
                throw Error(
                    code, failure("two-factor unlock of " + quoted(user_) + " with tfa_secret", u));
            }
        }
        loggedIn_ = true;
        log::debug("inwx: logged in as " + quoted(user_) + " at " + quoted(url()));
    }

    static std::string digest(const std::vector<std::uint8_t>& key) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
        unsigned int len = 0;
        if (EVP_Digest(key.data(), key.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
            throw Error(Exit::Software, "unable to compute SHA-256");
        }
        return {reinterpret_cast<const char*>(md.data()), len};
    }

    static std::uint64_t unixNow() {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    }

    static void wipeString(json::object& params, const char* key) {
        if (auto* v = params.if_contains(key); v && v->is_string()) {
            auto& s = v->as_string();
            if (!s.empty()) {
                OPENSSL_cleanse(s.data(), s.size());
            }
        }
    }

    // One HTTP request: no login, no retry.
    Answer once(const std::string& method, const json::object& params) {
        json::object request{{"method", method}, {"params", params}};
        std::string body = json::serialize(request);
        wipeString(request["params"].as_object(), "pass");
        wipeString(request["params"].as_object(), "tan");
        ++calls_;
        HttpReply reply;
        try {
            reply = http_.post(body, cookie_);
        } catch (...) {
            wipe(body);
            broken_ = true;
            throw;
        }
        wipe(body);
        if (!reply.cookie.empty()) {
            wipe(cookie_);
            cookie_ = std::move(reply.cookie);
        }
        if (reply.status != 200) {
            throw Error(Exit::Unavailable, "INWX at " + quoted(url()) + " answered " + method +
                                               " with HTTP status " + std::to_string(reply.status));
        }
        Answer a;
        json::value parsed;
        boost::system::error_code ec;
        parsed = json::parse(reply.body, ec);
        const json::object* obj = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
        const json::value* code = obj ? obj->if_contains("code") : nullptr;
        if (code == nullptr || !(code->is_int64() || code->is_uint64())) {
            throw Error(Exit::Unavailable, "INWX at " + quoted(url()) +
                                               " sent no JSON-RPC answer to " + method +
                                               " (is it the /jsonrpc/ endpoint?)");
        }
        a.code = static_cast<int>(code->to_number<std::int64_t>());
        a.msg = stringOf(obj->if_contains("msg"));
        if (const auto* reason = obj->if_contains("reason");
            reason && reason->is_string() && !reason->as_string().empty()) {
            a.msg += ": " + std::string(reason->as_string());
        }
        if (const auto* res = obj->if_contains("resData"); res && res->is_object()) {
            a.resData = res->as_object();
        }
        log::debug("inwx: " + method + " " + forLog(params) + " -> " + std::to_string(a.code));
        return a;
    }

    Http http_;
    std::string user_;
    std::string password_;
    std::optional<std::vector<std::uint8_t>> tfaKey_;
    unsigned retries_;
    std::chrono::milliseconds retryWait_;
    std::string cookie_;
    bool loggedIn_ = false;
    bool broken_ = false;
    std::size_t calls_ = 0;
};

// The identity of a record for finding its INWX ids: owner, type, and the data as
// record::equalData compares it (TXT by its text, CAA with the tag in lower case).
std::string idKey(const record::Record& rr) {
    std::string data = rr.data;
    if (rr.type == record::Type::TXT) {
        data = record::txtText(rr.data);
    } else if (rr.type == record::Type::CAA) {
        const auto a = data.find(' ');
        const auto b = a == std::string::npos ? a : data.find(' ', a + 1);
        if (b != std::string::npos) {
            std::transform(data.begin() + static_cast<std::ptrdiff_t>(a),
                           data.begin() + static_cast<std::ptrdiff_t>(b),
                           data.begin() + static_cast<std::ptrdiff_t>(a),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        }
    }
    return rr.name + '\n' + std::to_string(static_cast<unsigned>(rr.type)) + '\n' + data;
}

// What nameserver.info listed: the records cdm manages, and the INWX ids behind each.
struct Listing {
    struct Held {
        record::Record rr;
        std::vector<std::pair<json::value, std::uint32_t>> ids; // INWX id, its TTL
    };
    std::vector<record::Record> records;
    std::map<std::string, Held> held; // idKey -> ids
    std::map<RRsetKey, std::vector<record::Record>> rrsets;
    std::uint32_t serial = 0;
    std::uint32_t negativeTtl = 0;

    std::vector<record::Record> rrset(const RRsetKey& key) const {
        const auto it = rrsets.find(RRsetKey{name::normalize(key.name), key.type});
        return it == rrsets.end() ? std::vector<record::Record>{} : it->second;
    }
};

bool sameSet(const std::vector<record::Record>& a, const std::vector<record::Record>& b) {
    const auto covered = [](const std::vector<record::Record>& x,
                            const std::vector<record::Record>& y) {
        return std::all_of(x.begin(), x.end(), [&](const record::Record& r) {
            return std::any_of(y.begin(), y.end(), [&](const record::Record& s) {
                return s.sameRecord(r) && s.ttl == r.ttl;
            });
        });
    };
    return a.size() == b.size() && covered(a, b) && covered(b, a);
}

class InwxProvider final : public Provider {
public:
    explicit InwxProvider(std::unique_ptr<Session> session) : session_(std::move(session)) {}

    ZoneContents read(const std::string& zone, const std::vector<RRsetKey>& /*wanted*/) override {
        listing_ = list(zone);
        ZoneContents out;
        out.records = listing_.records;
        out.complete = true; // nameserver.info lists the whole zone
        out.serial = listing_.serial;
        out.negativeTtl = listing_.negativeTtl;
        return out;
    }

    Applied apply(const Change& change) override {
        // Every record to send is checked first, so that one INWX cannot hold changes nothing.
        for (const auto& set : change.rrsets) {
            for (const auto& rr : set.adds()) {
                (void)inwx::toInwx(rr, change.zone);
            }
        }
        const std::size_t before = session_->calls();
        // INWX has no conditional change: read again, and give up (cdm-dns-apply reads,
        // plans and retries) when another writer touched an RRset since it was read.
        listing_ = list(change.zone);
        for (const auto& set : change.rrsets) {
            if (!sameSet(listing_.rrset(set.key), set.before)) {
                throw RaceLost(
                    "the RRset " +
                    quoted(set.key.name + " " + std::string(record::toString(set.key.type))) +
                    " changed at INWX since it was read");
            }
        }
        Progress progress(change);
        // Make before break: every addition of the whole change, then the TTL changes, then
        // every deletion.
        for (std::size_t i = 0; i < change.rrsets.size(); ++i) {
            const auto& set = change.rrsets[i];
            if (isSoaUpdate(set)) {
                updateSoa(change.zone, set, progress, i);
                continue;
            }
            for (const auto& rr : set.adds()) {
                create(change.zone, rr, progress, i);
            }
        }
        for (std::size_t i = 0; i < change.rrsets.size(); ++i) {
            const auto& set = change.rrsets[i];
            if (!isSoaUpdate(set) && set.ttlChanged()) {
                updateTtls(set, progress, i);
            }
        }
        for (std::size_t i = 0; i < change.rrsets.size(); ++i) {
            const auto& set = change.rrsets[i];
            if (!isSoaUpdate(set)) {
                for (const auto& rr : set.deletes()) {
                    remove(rr, progress, i);
                }
            }
        }
        Applied applied;
        if (progress.changed) {
            try {
                listing_ = list(change.zone);
                applied.serial = listing_.serial;
            } catch (const Error& e) {
                log::warn("unable to read the SOA serial after the change: " + e.message());
            }
        } else {
            applied.serial = listing_.serial;
        }
        applied.messages = session_->calls() - before;
        return applied;
    }

private:
    // Which RRsets are done, for the message of a failure half-way.
    struct Progress {
        explicit Progress(const Change& change) : pending(change.rrsets.size(), 0) {
            for (std::size_t i = 0; i < change.rrsets.size(); ++i) {
                const auto& set = change.rrsets[i];
                pending[i] = set.adds().size() + set.deletes().size() + (set.ttlChanged() ? 1 : 0);
                if (isSoaUpdate(set)) {
                    pending[i] = 1;
                }
            }
        }
        void done(std::size_t i, bool all = false) {
            changed = true;
            if (all || pending[i] <= 1) {
                pending[i] = 0;
            } else {
                --pending[i];
            }
        }
        std::string text() const {
            const auto n = std::count(pending.begin(), pending.end(), std::size_t{0});
            return "applied " + std::to_string(n) + " of " + std::to_string(pending.size()) +
                   " RRsets";
        }
        std::vector<std::size_t> pending;
        bool changed = false;
    };

    static bool isSoaUpdate(const RRsetChange& set) {
        return set.key.type == record::Type::SOA && set.before.size() == 1 && set.after.size() == 1;
    }

    [[noreturn]] void fail(Exit code, const std::string& what, const Answer& a,
                           const Progress& progress) const {
        throw Error(code, session_->failure(what, a) + "; " + progress.text());
    }

    Listing list(const std::string& zone) {
        const std::string domain = withoutDot(name::normalize(zone));
        Answer a = session_->call("nameserver.info", json::object{{"domain", domain}});
        if (a.code == inwx::codeDoesNotExist) {
            throw Error(Exit::NoPerm, "INWX account " + quoted(session_->user()) + " at " +
                                          quoted(session_->url()) + " holds no zone " +
                                          quoted(domain) + " (" + codeText(a) + ")");
        }
        if (a.code != inwx::codeOk) {
            throw Error(inwx::exitFor(a.code, false),
                        session_->failure("nameserver.info of " + quoted(domain), a));
        }
        Listing out;
        out.serial = numberOf(a.resData.if_contains("SOAserial"));
        const auto* records = a.resData.if_contains("record");
        if (records == nullptr || !records->is_array()) {
            return out;
        }
        for (const auto& v : records->as_array()) {
            if (!v.is_object()) {
                continue;
            }
            const auto& o = v.as_object();
            inwx::InwxRecord r;
            r.name = stringOf(o.if_contains("name"));
            r.type = stringOf(o.if_contains("type"));
            r.content = stringOf(o.if_contains("content"));
            r.ttl = numberOf(o.contains("ttl") ? o.if_contains("ttl") : o.if_contains("TTL"));
            r.prio = numberOf(o.if_contains("prio"));
            std::optional<record::Record> rr;
            try {
                rr = inwx::fromInwx(r, zone);
            } catch (const Error& e) {
                log::warn("ignoring an INWX record of zone " + quoted(domain) + ": " + e.message());
                continue;
            }
            if (!rr) {
                log::debug("inwx: not managed by cdm: " + r.name + " " + r.type + " " + r.content);
                continue;
            }
            if (rr->type == record::Type::SOA) {
                const auto f = fields(rr->data);
                if (out.serial == 0 && f.size() == 7) {
                    out.serial = static_cast<std::uint32_t>(std::stoul(f[2]));
                }
                if (f.size() == 7) {
                    out.negativeTtl = static_cast<std::uint32_t>(std::stoul(f[6]));
                }
            }
            json::value id = o.contains("id") ? o.at("id") : json::value();
            auto [it, fresh] = out.held.try_emplace(idKey(*rr), Listing::Held{*rr, {}});
            it->second.ids.emplace_back(std::move(id), rr->ttl);
            if (fresh) {
                out.rrsets[RRsetKey{rr->name, rr->type}].push_back(*rr);
                out.records.push_back(*rr);
            } else {
                log::debug("inwx: " + r.name + " " + r.type + " " + r.content + " is listed twice");
            }
        }
        return out;
    }

    static json::object recordParams(const inwx::InwxRecord& r) {
        json::object p{{"name", r.name}, {"type", r.type}, {"content", r.content}, {"ttl", r.ttl}};
        if (r.type == "MX" || r.type == "SRV") {
            p["prio"] = r.prio;
        }
        return p;
    }

    void create(const std::string& zone, const record::Record& rr, Progress& progress,
                std::size_t i) {
        const auto r = inwx::toInwx(rr, zone);
        json::object p = recordParams(r);
        p["domain"] = withoutDot(name::normalize(zone));
        const Answer a = session_->call("nameserver.createRecord", p);
        if (a.code == inwx::codeExists) {
            log::info("add (exists) " + std::string(record::toString(rr.type)) + " for " + r.name +
                      " : " + r.content + " (INWX already held it)");
        } else if (a.code != inwx::codeOk) {
            fail(inwx::exitFor(a.code, true), "nameserver.createRecord of " + describe(rr), a,
                 progress);
        }
        progress.done(i);
    }

    void updateTtls(const RRsetChange& set, Progress& progress, std::size_t i) {
        const std::uint32_t ttl = set.after.front().ttl;
        for (const auto& rr : set.after) {
            const auto it = listing_.held.find(idKey(rr));
            if (it == listing_.held.end()) {
                continue; // added just now, with the new TTL
            }
            for (const auto& [id, old] : it->second.ids) {
                if (old == ttl) {
                    continue;
                }
                const Answer a = session_->call("nameserver.updateRecord",
                                                json::object{{"id", id}, {"ttl", ttl}});
                if (a.code == inwx::codeDoesNotExist) {
                    throw RaceLost("the record " + describe(rr) +
                                   " vanished at INWX while its TTL was changed; " +
                                   progress.text());
                }
                if (a.code != inwx::codeOk) {
                    fail(inwx::exitFor(a.code, true),
                         "nameserver.updateRecord (TTL " + std::to_string(ttl) + ") of " +
                             describe(rr),
                         a, progress);
                }
            }
        }
        progress.done(i);
    }

    void updateSoa(const std::string& zone, const RRsetChange& set, Progress& progress,
                   std::size_t i) {
        const auto& from = set.before.front();
        const auto& to = set.after.front();
        if (from.sameRecord(to) && from.ttl == to.ttl) {
            progress.done(i, true);
            return;
        }
        const auto it = listing_.held.find(idKey(from));
        if (it == listing_.held.end() || it->second.ids.empty()) {
            throw RaceLost("the SOA of " + quoted(zone) + " changed at INWX since it was read");
        }
        const auto r = inwx::toInwx(to, zone);
        const Answer a = session_->call("nameserver.updateRecord",
                                        json::object{{"id", it->second.ids.front().first},
                                                     {"content", r.content},
                                                     {"ttl", r.ttl}});
        if (a.code == inwx::codeDoesNotExist) {
            throw RaceLost("the SOA of " + quoted(zone) + " vanished at INWX while it was updated");
        }
        if (a.code != inwx::codeOk) {
            fail(inwx::exitFor(a.code, true), "nameserver.updateRecord of " + describe(to), a,
                 progress);
        }
        progress.done(i, true);
    }

    void remove(const record::Record& rr, Progress& progress, std::size_t i) {
        const auto it = listing_.held.find(idKey(rr));
        if (it != listing_.held.end()) {
            for (const auto& [id, ttl] : it->second.ids) {
                const Answer a =
                    session_->call("nameserver.deleteRecord", json::object{{"id", id}});
                if (a.code == inwx::codeDoesNotExist) {
                    log::info("delete " + std::string(record::toString(rr.type)) + " for " +
                              withoutDot(rr.name) + " : " + rr.data + " (INWX no longer held it)");
                } else if (a.code != inwx::codeOk) {
                    fail(inwx::exitFor(a.code, true), "nameserver.deleteRecord of " + describe(rr),
                         a, progress);
                }
            }
        }
        progress.done(i);
    }

    std::unique_ptr<Session> session_;
    Listing listing_;
};

} // namespace

std::unique_ptr<Provider> makeInwx(const Settings& settings) {
    const std::string user = settings.require("user");
    std::optional<std::string> password = settings.secret("passwd");
    if (!password) {
        password = settings.secret("password");
    }
    if (!password || password->empty()) {
        throw Error(Exit::Config,
                    "the inwx provider needs 'passwd' (or 'passwd_file') in " + settings.section,
                    settings.locate("user"));
    }
    std::string url;
    try {
        url = inwx::endpoint(settings.get("api_url"));
    } catch (const Error& e) {
        throw Error(e.code(), e.message(), settings.locate("api_url"));
    }
    std::optional<std::vector<std::uint8_t>> tfaKey;
    std::optional<std::string> secret = settings.secret("tfa_secret");
    if (secret && !secret->empty()) {
        tfaKey = inwx::base32Decode(*secret);
        wipe(*secret);
        if (!tfaKey) {
            const std::string key =
                settings.get("tfa_secret_file") ? "tfa_secret_file" : "tfa_secret";
            throw Error(Exit::Config,
                        "the TOTP secret of " + settings.section +
                            " is not base32 (letters A-Z and digits 2-7)",
                        settings.locate(key));
        }
    }
    const auto timeout = static_cast<long>(settings.number("timeout", 30, 1, 600));
    const auto retries = static_cast<unsigned>(settings.number("retries", 5, 0, 20));
    const auto retryWait =
        std::chrono::milliseconds(settings.number("retry_wait_ms", 1000, 0, 60000));
    std::string cabundle = settings.get("cabundle").value_or("");
    auto session = std::make_unique<Session>(url, user, std::move(*password), std::move(tfaKey),
                                             timeout, std::move(cabundle), retries, retryWait);
    return std::make_unique<InwxProvider>(std::move(session));
}

} // namespace cdm::provider
