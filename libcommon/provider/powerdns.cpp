#include "libcommon/provider/powerdns.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <utility>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "libcommon/deleter.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/provider/providers.hpp"

namespace cdm::provider {

namespace json = boost::json;

namespace powerdns {

namespace {

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
}

std::string trimmed(std::string_view text) {
    const auto* ws = " \t\r\n";
    const auto first = text.find_first_not_of(ws);
    if (first == std::string_view::npos) {
        return {};
    }
    return std::string(text.substr(first, text.find_last_not_of(ws) - first + 1));
}

// A JSON number that fits a DNS TTL or serial; nullopt for anything else.
std::optional<std::uint32_t> toU32(const json::value* v) {
    if (v == nullptr) {
        return std::nullopt;
    }
    if (v->is_int64() && v->as_int64() >= 0 && v->as_int64() <= 0xffffffffLL) {
        return static_cast<std::uint32_t>(v->as_int64());
    }
    if (v->is_uint64() && v->as_uint64() <= 0xffffffffULL) {
        return static_cast<std::uint32_t>(v->as_uint64());
    }
    return std::nullopt;
}

const json::string* stringMember(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

// The fields of SOA data in cdm's canonical form: mname rname serial refresh retry expire minimum.
std::vector<std::string> fields(const std::string& data) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < data.size()) {
        const auto end = std::min(data.find(' ', i), data.size());
        if (end > i) {
            out.push_back(data.substr(i, end - i));
        }
        i = end + 1;
    }
    return out;
}

} // namespace

std::string apiBase(std::string_view apiUrl) {
    std::string url = trimmed(apiUrl);
    std::size_t schemeEnd = 0;
    if (startsWithNoCase(url, "http://")) {
        schemeEnd = 7;
    } else if (startsWithNoCase(url, "https://")) {
        schemeEnd = 8;
    } else {
        throw Error(Exit::Config, "api_url '" + url + "' is not an http:// or https:// URL");
    }
    std::transform(url.begin(), url.begin() + static_cast<std::ptrdiff_t>(schemeEnd), url.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (url.find_first_of("?#") != std::string::npos) {
        throw Error(Exit::Config, "api_url '" + url + "' has a query or fragment; give the server's address only");
    }
    const auto hostEnd = std::min(url.find('/', schemeEnd), url.size());
    const std::string authority = url.substr(schemeEnd, hostEnd - schemeEnd);
    if (authority.empty()) {
        throw Error(Exit::Config, "api_url '" + url + "' names no host");
    }
    if (authority.find('@') != std::string::npos) {
        // Credentials in the URL would end up in messages; the key goes in apikey_file.
        throw Error(Exit::Config, "api_url must not hold credentials (user@host); put the key in apikey_file");
    }
    while (url.size() > hostEnd && url.back() == '/') {
        url.pop_back();
    }
    constexpr std::string_view suffix = "/api/v1";
    if (url.size() < suffix.size() || url.compare(url.size() - suffix.size(), suffix.size(), suffix) != 0) {
        url += suffix;
    }
    return url;
}

std::string zoneId(std::string_view zone) {
    const std::string name = name::normalize(zone);
    if (name == ".") {
        return "=2E"; // a lone dot does not survive in every URL
    }
    std::string id;
    for (const char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '.' || c == '-') {
            id += c;
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "=%02X", static_cast<unsigned>(u));
            id += hex;
        }
    }
    return id;
}

std::string toContent(const record::Record& rr) { return record::canonical(rr.type, rr.data); }

std::optional<record::Record> fromContent(std::string_view name, std::string_view type,
                                          std::uint32_t ttl, std::string_view content) {
    // typeFromString also reads TYPEnnn; PowerDNS prints mnemonics, and uses TYPEnnn only for
    // types it does not know, which cdm does not know either.
    const auto t = record::typeFromString(type);
    if (!t || startsWithNoCase(type, "TYPE")) {
        return std::nullopt;
    }
    try {
        return record::Record::make(name, *t, ttl, content);
    } catch (const Error& e) {
        throw Error(Exit::DataErr, "the PowerDNS server holds a record cdm cannot read: " + std::string(name) +
                                       " " + std::string(type) + " '" + std::string(content) + "': " + e.message());
    }
}

std::uint32_t zoneSerial(const json::value& zone) {
    const auto* o = zone.if_object();
    if (o == nullptr) {
        return 0;
    }
    for (const auto* key : {"edited_serial", "serial"}) {
        if (const auto n = toU32(o->if_contains(key))) {
            return *n;
        }
    }
    if (const auto* rrsets = o->if_contains("rrsets"); rrsets != nullptr && rrsets->is_array()) {
        for (const auto& rs : rrsets->as_array()) {
            const auto* r = rs.if_object();
            const auto* type = r != nullptr ? stringMember(*r, "type") : nullptr;
            const auto* records = r != nullptr ? r->if_contains("records") : nullptr;
            if (type == nullptr || *type != "SOA" || records == nullptr || !records->is_array() ||
                records->as_array().empty() || !records->as_array().front().is_object()) {
                continue;
            }
            if (const auto* content = stringMember(records->as_array().front().as_object(), "content")) {
                const auto f = fields(std::string(*content));
                if (f.size() == 7 && !f[2].empty() && f[2].size() <= 10 &&
                    std::all_of(f[2].begin(), f[2].end(), [](unsigned char c) { return std::isdigit(c); })) {
                    const unsigned long long n = std::stoull(f[2]);
                    if (n <= 0xffffffffULL) {
                        return static_cast<std::uint32_t>(n);
                    }
                }
            }
        }
    }
    return 0;
}

ZoneContents parseZone(const json::value& zone, const std::string& where) {
    const auto bad = [&](const std::string& what) {
        return Error(Exit::DataErr, "the PowerDNS API at '" + where + "' answered " + what);
    };
    const auto* o = zone.if_object();
    if (o == nullptr) {
        throw bad("something other than a zone object");
    }
    const auto* rrsets = o->if_contains("rrsets");
    if (rrsets == nullptr || !rrsets->is_array()) {
        throw bad("a zone without \"rrsets\"");
    }
    ZoneContents out;
    out.complete = true;
    for (std::size_t i = 0; i < rrsets->as_array().size(); ++i) {
        const auto& rs = rrsets->as_array()[i];
        const std::string at = "rrsets[" + std::to_string(i) + "]";
        const auto* r = rs.if_object();
        const auto* nm = r != nullptr ? stringMember(*r, "name") : nullptr;
        const auto* type = r != nullptr ? stringMember(*r, "type") : nullptr;
        const auto* records = r != nullptr ? r->if_contains("records") : nullptr;
        if (nm == nullptr || type == nullptr || records == nullptr || !records->is_array()) {
            throw bad("a malformed " + at + " (no name, type or records)");
        }
        const auto ttl = toU32(r->if_contains("ttl"));
        if (!ttl) {
            throw bad("a malformed " + at + ".ttl");
        }
        for (const auto& rec : records->as_array()) {
            const auto* ro = rec.if_object();
            const auto* content = ro != nullptr ? stringMember(*ro, "content") : nullptr;
            if (content == nullptr) {
                throw bad("a malformed " + at + ".records (no content)");
            }
            if (const auto* disabled = ro->if_contains("disabled");
                disabled != nullptr && disabled->is_bool() && disabled->as_bool()) {
                continue; // not served
            }
            auto parsed = fromContent(*nm, *type, *ttl, *content);
            if (!parsed) {
                continue;
            }
            if (parsed->type == record::Type::SOA) {
                const auto f = fields(parsed->data);
                if (f.size() == 7) {
                    out.negativeTtl = static_cast<std::uint32_t>(std::stoul(f[6]));
                }
            }
            out.records.push_back(std::move(*parsed));
        }
    }
    out.serial = zoneSerial(zone);
    return out;
}

json::object patchBody(const Change& change) {
    json::array rrsets;
    for (const auto& rc : change.rrsets) {
        json::object rs;
        rs["name"] = rc.key.name;
        rs["type"] = std::string(record::toString(rc.key.type));
        if (rc.after.empty()) {
            rs["changetype"] = "DELETE";
        } else {
            rs["changetype"] = "REPLACE";
            rs["ttl"] = rc.after.front().ttl;
            json::array records;
            std::vector<const record::Record*> kept;
            for (const auto& rr : rc.after) {
                // PowerDNS refuses an RRset with the same record twice (422).
                if (std::any_of(kept.begin(), kept.end(), [&](const record::Record* k) { return k->sameRecord(rr); })) {
                    continue;
                }
                kept.push_back(&rr);
                records.push_back(json::object{{"content", toContent(rr)}, {"disabled", false}});
            }
            rs["records"] = std::move(records);
        }
        rrsets.push_back(std::move(rs));
    }
    return json::object{{"rrsets", std::move(rrsets)}};
}

std::vector<RRsetKey> changedSince(const Change& change, const ZoneContents& now) {
    std::map<RRsetKey, std::vector<const record::Record*>> held;
    for (const auto& rr : now.records) {
        held[RRsetKey{name::normalize(rr.name), rr.type}].push_back(&rr);
    }
    std::vector<RRsetKey> out;
    for (const auto& rc : change.rrsets) {
        const RRsetKey key{name::normalize(rc.key.name), rc.key.type};
        const auto it = held.find(key);
        const std::size_t count = it == held.end() ? 0 : it->second.size();
        bool same = count == rc.before.size();
        for (const auto& b : rc.before) {
            if (!same) {
                break;
            }
            same = std::any_of(it->second.begin(), it->second.end(), [&](const record::Record* r) {
                return r->sameRecord(b) && r->ttl == b.ttl;
            });
        }
        if (!same) {
            out.push_back(rc.key);
        }
    }
    return out;
}

std::string errorText(std::string_view body) {
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec);
    if (!ec && v.is_object()) {
        if (const auto* e = stringMember(v.as_object(), "error")) {
            return std::string(*e);
        }
    }
    std::string text = trimmed(body);
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
    if (text.size() > 300) {
        text = text.substr(0, 300) + "...";
    }
    return text;
}

} // namespace powerdns

namespace {

using CurlHandle = std::unique_ptr<CURL, Deleter<curl_easy_cleanup>>;
using CurlList = std::unique_ptr<curl_slist, Deleter<curl_slist_free_all>>;

constexpr std::size_t kMaxReply = 256UL * 1024 * 1024; // a zone of a million records fits

struct Reply {
    long status = 0;
    std::string body;
};

struct Sink {
    std::string body;
    bool tooLarge = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t n = size * count;
    if (sink->body.size() + n > kMaxReply) {
        sink->tooLarge = true;
        return 0; // makes curl stop with CURLE_WRITE_ERROR
    }
    sink->body.append(data, n);
    return n;
}

void initCurl() {
    // curl_global_init is not thread-safe; a function-local static runs it exactly once.
    static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        throw Error(Exit::Software, std::string("unable to initialise libcurl: ") + curl_easy_strerror(rc));
    }
}

bool loopbackHost(const std::string& base) {
    const auto start = base.find("://") + 3;
    const std::string host = base.substr(start, base.find('/', start) - start);
    return host.rfind("127.", 0) == 0 || host.rfind("[::1]", 0) == 0 || host == "localhost" ||
           host.rfind("localhost:", 0) == 0;
}

// One libcurl handle, reused for every request so that the connection is kept open.
class Http {
public:
    Http(std::string base, const std::string& apikey, long timeoutMs, std::string cabundle)
        : base_(std::move(base)), timeoutMs_(timeoutMs), cabundle_(std::move(cabundle)) {
        initCurl();
        curl_.reset(curl_easy_init());
        if (!curl_) {
            throw Error(Exit::Software, "unable to create a libcurl handle");
        }
        std::string header = "X-API-Key: " + apikey;
        append(header);
        OPENSSL_cleanse(header.data(), header.size());
        append("Content-Type: application/json");
        append("Accept: application/json");
        append("Expect:"); // no 100-continue round trip before a large PATCH body
    }

    const std::string& base() const { return base_; }
    std::size_t sent() const { return sent_; }

    // One request to base + path. Throws Error(Exit::Unavailable) when no HTTP answer comes.
    Reply request(const char* method, const std::string& path, const std::string* body = nullptr) {
        CURL* h = curl_.get();
        const std::string url = base_ + path;
        char errbuf[CURL_ERROR_SIZE] = {};
        Sink sink;
        curl_easy_reset(h); // keeps the open connection, forgets the last request's options
        curl_easy_setopt(h, CURLOPT_URL, url.c_str());
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_.get());
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeoutMs_);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeoutMs_, 10000L));
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); // the key goes to api_url only
        // libcurl's defaults, set all the same: no setting turns them off.
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "cdm-dns-apply");
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        if (!cabundle_.empty()) {
            curl_easy_setopt(h, CURLOPT_CAINFO, cabundle_.c_str());
        }
        if (body != nullptr) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
        } else if (std::string_view(method) != "GET") {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        const auto t0 = std::chrono::steady_clock::now();
        const CURLcode rc = curl_easy_perform(h);
        ++sent_;
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
        if (rc != CURLE_OK) {
            std::string why = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
            if (sink.tooLarge) {
                why = "the reply is larger than " + std::to_string(kMaxReply >> 20) + " MB";
            }
            log::debug(std::string("powerdns: ") + method + " " + url + " failed after " +
                       std::to_string(ms.count()) + " ms: " + why);
            throw Error(Exit::Unavailable, "unable to reach the PowerDNS API at '" + url + "': " + why);
        }
        Reply reply;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
        reply.body = std::move(sink.body);
        log::debug(std::string("powerdns: ") + method + " " + url + " -> HTTP " + std::to_string(reply.status) + " (" +
                   std::to_string(reply.body.size()) + " bytes, " + std::to_string(ms.count()) + " ms)");
        return reply;
    }

private:
    void append(const std::string& line) {
        curl_slist* grown = curl_slist_append(headers_.get(), line.c_str());
        if (grown == nullptr) {
            throw Error(Exit::Software, "unable to build the HTTP headers: out of memory");
        }
        (void)headers_.release(); // `grown` is the same list, one item longer
        headers_.reset(grown);
    }

    std::string base_;
    long timeoutMs_;
    std::string cabundle_;
    CurlHandle curl_;
    CurlList headers_;
    std::size_t sent_ = 0;
};

class Powerdns final : public Provider {
public:
    explicit Powerdns(const Settings& settings) : settings_(settings) {
        std::string base;
        try {
            base = powerdns::apiBase(settings.require("api_url"));
        } catch (const Error& e) {
            throw Error(e.code(), e.message(), e.where().empty() ? settings.locate("api_url") : e.where());
        }
        auto key = settings.secret("apikey");
        if (!key || key->empty()) {
            throw Error(Exit::Config,
                        "the powerdns provider needs 'apikey' or 'apikey_file' in " + settings.section,
                        settings.locate("handler"));
        }
        if (std::any_of(key->begin(), key->end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
            OPENSSL_cleanse(key->data(), key->size());
            throw Error(Exit::Config, "the powerdns API key holds a control character", keyLocation());
        }
        serverId_ = settings.get("server_id").value_or("localhost");
        if (serverId_.empty() || serverId_.size() > 255 ||
            !std::all_of(serverId_.begin(), serverId_.end(), [](unsigned char c) {
                return std::isalnum(c) || c == '.' || c == '-' || c == '_';
            })) {
            throw Error(Exit::Config, "server_id '" + serverId_ + "' is not a PowerDNS server id (letters, digits, '.', '-', '_')",
                        settings.locate("server_id"));
        }
        const auto timeout = settings.number("timeout", 30, 1, 3600);
        std::string cabundle = settings.get("cabundle").value_or("");
        if (!cabundle.empty()) {
            if (std::FILE* f = std::fopen(cabundle.c_str(), "r")) {
                std::fclose(f);
            } else {
                throw Error(Exit::Config, "cabundle '" + cabundle + "' cannot be read", settings.locate("cabundle"));
            }
        }
        if (base.rfind("http://", 0) == 0 && !loopbackHost(base)) {
            log::warn("the PowerDNS API at '" + base + "' is plain http: the API key crosses the network unencrypted");
        }
        http_ = std::make_unique<Http>(base, *key, static_cast<long>(timeout) * 1000, std::move(cabundle));
        OPENSSL_cleanse(key->data(), key->size());
    }

    ZoneContents read(const std::string& zone, const std::vector<RRsetKey>& /*wanted*/) override {
        // The API has no per-RRset read in 4.7 (rrset_name came in 4.8), and one GET of the
        // zone is one round trip however many RRsets are wanted: read it whole.
        const std::string apex = name::normalize(zone);
        const std::string path = zonePath(apex);
        const Reply reply = http_->request("GET", path);
        check(reply, apex, "read");
        return powerdns::parseZone(parse(reply, path), http_->base() + path);
    }

    Applied apply(const Change& change) override {
        Applied applied;
        if (change.rrsets.empty()) {
            return applied;
        }
        const std::string apex = name::normalize(change.zone);
        const std::string path = zonePath(apex);
        const std::size_t sent0 = http_->sent();

        // PowerDNS has no conditional PATCH: look, just before patching, whether another
        // writer changed the RRsets since read(). What is left is the window between this
        // GET and the PATCH, a few milliseconds.
        Reply reply = http_->request("GET", path);
        check(reply, apex, "read");
        const auto now = powerdns::parseZone(parse(reply, path), http_->base() + path);
        if (const auto raced = powerdns::changedSince(change, now); !raced.empty()) {
            std::string which = raced.front().name + " " + std::string(record::toString(raced.front().type));
            if (raced.size() > 1) {
                which += " and " + std::to_string(raced.size() - 1) + " more";
            }
            throw RaceLost("zone '" + apex + "' changed on the PowerDNS server since it was read (" + which + ")");
        }

        // One PATCH: PowerDNS applies all RRsets in one transaction, or none.
        const std::string body = json::serialize(powerdns::patchBody(change));
        reply = http_->request("PATCH", path, &body);
        check(reply, apex, "change");

        try {
            reply = http_->request("GET", path + "?rrsets=false");
            check(reply, apex, "read");
            applied.serial = powerdns::zoneSerial(parse(reply, path));
        } catch (const Error& e) {
            log::warn("zone '" + apex + "' was changed, but its new serial could not be read: " + e.message());
        }
        applied.messages = http_->sent() - sent0;
        return applied;
    }

private:
    std::string zonePath(const std::string& apex) const {
        return "/servers/" + serverId_ + "/zones/" + powerdns::zoneId(apex);
    }

    Location keyLocation() const {
        return settings_.where.count("apikey_file") != 0 ? settings_.locate("apikey_file") : settings_.locate("apikey");
    }

    json::value parse(const Reply& reply, const std::string& path) const {
        boost::system::error_code ec;
        json::value v = json::parse(reply.body, ec);
        if (ec) {
            throw Error(Exit::Unavailable, "the PowerDNS API at '" + http_->base() + path + "' answered no JSON (HTTP " +
                                               std::to_string(reply.status) + "): " + ec.message());
        }
        return v;
    }

    // Turn an HTTP status other than 2xx into the Error it means. `what`: "read" or "change".
    void check(const Reply& reply, const std::string& apex, const std::string& what) {
        const long s = reply.status;
        if (s >= 200 && s < 300) {
            return;
        }
        const std::string at = http_->base();
        const std::string status = "HTTP " + std::to_string(s);
        const std::string text = powerdns::errorText(reply.body);
        if (s == 401 || s == 403) {
            throw Error(Exit::NoPerm,
                        "the PowerDNS API at '" + at + "' refused to " + what + " zone '" + apex + "' (" + status +
                            (text.empty() ? "" : " " + text) + "): check apikey",
                        keyLocation());
        }
        if (s == 404) {
            // The zone, or the server id (or api_url's path) is wrong: one more request tells.
            const Reply server = http_->request("GET", "/servers/" + serverId_);
            if (server.status == 404) {
                throw Error(Exit::Config,
                            "the PowerDNS API at '" + at + "' has no server '" + serverId_ +
                                "' (HTTP 404): check api_url and server_id",
                            settings_.locate("api_url"));
            }
            throw Error(Exit::Config,
                        "zone '" + apex + "' is not on the PowerDNS server '" + serverId_ + "' at '" + at + "'",
                        settings_.locate("api_url"));
        }
        if (s == 400 || s == 422) {
            throw Error(Exit::DataErr, "PowerDNS refused the " + what + " of zone '" + apex + "' (" + status +
                                           "): " + (text.empty() ? "no reason given" : text));
        }
        if (s >= 300 && s < 400) {
            throw Error(Exit::Config, "the PowerDNS API at '" + at + "' redirects (" + status +
                                          "); set api_url to the address it redirects to",
                        settings_.locate("api_url"));
        }
        throw Error(Exit::Unavailable, "the PowerDNS API at '" + at + "' failed to " + what + " zone '" + apex +
                                           "' (" + status + (text.empty() ? "" : "): " + text) +
                                           (text.empty() ? ")" : ""));
    }

    Settings settings_;
    std::string serverId_;
    std::unique_ptr<Http> http_;
};

} // namespace

std::unique_ptr<Provider> makePowerdns(const Settings& settings) { return std::make_unique<Powerdns>(settings); }

} // namespace cdm::provider
