#include "libcommon/ipdetect.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <cstring>
#include <ifaddrs.h>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>
#include <tuple>

#include "libcommon/command.hpp"
#include "libcommon/config.hpp"
#include "libcommon/document.hpp"
#include "libcommon/http.hpp"
#include "libcommon/log.hpp"

namespace cdm::ipdetect {

namespace json = boost::json;

namespace {

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n\f\v");
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(" \t\r\n\f\v") - first + 1);
}

// An answer as it may appear in a message: control bytes escaped, long ones cut, so that an
// HTML error page does not flood the log.
std::string shown(std::string_view answer) {
    constexpr std::size_t limit = 60;
    std::string out;
    for (const char c : answer.substr(0, limit)) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (u < 0x20 || u == 0x7f) {
            static constexpr std::string_view hex = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4U];
            out += hex[u & 0xfU];
        } else {
            out += c;
        }
    }
    if (answer.size() > limit) {
        out += "...";
    }
    return out;
}

std::string familyName(Family family) {
    return family == Family::V4 ? "IPv4" : "IPv6";
}

// ------------------------------------------------------------------ address classes

bool inV4(std::uint32_t a, std::uint32_t net, unsigned bits) {
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32U - bits);
    return (a & mask) == net;
}

bool inV6(const std::array<std::uint8_t, 16>& a, std::initializer_list<std::uint8_t> prefix,
          unsigned bits) {
    unsigned i = 0;
    for (const auto byte : prefix) {
        const unsigned take = std::min(8U, bits - i * 8U);
        const auto mask = static_cast<std::uint8_t>(0xffU << (8U - take));
        if ((a[i] & mask) != (byte & mask)) {
            return false;
        }
        if (++i * 8U >= bits) {
            break;
        }
    }
    return true;
}

std::array<std::uint8_t, 16> bytesV6(const std::string& address) {
    std::array<std::uint8_t, 16> a{};
    inet_pton(AF_INET6, address.c_str(), a.data());
    return a;
}

enum class V6Rank { Global = 0, UniqueLocal = 1, Other = 2, LinkLocal = 3 };

V6Rank rankV6(const std::string& address) {
    const auto a = bytesV6(address);
    if (inV6(a, {0xfe, 0x80}, 10)) {
        return V6Rank::LinkLocal;
    }
    if (inV6(a, {0xfc}, 7)) {
        return V6Rank::UniqueLocal;
    }
    return notPublic(Family::V6, address).empty() ? V6Rank::Global : V6Rank::Other;
}

} // namespace

// ------------------------------------------------------------------ public

std::string_view toString(Family family) {
    return family == Family::V4 ? "ip4" : "ip6";
}

std::optional<Family> familyFromString(std::string_view text) {
    if (text == "ip4" || text == "4") {
        return Family::V4;
    }
    if (text == "ip6" || text == "6") {
        return Family::V6;
    }
    return std::nullopt;
}

std::optional<std::string> parseAddress(Family family, std::string_view text) {
    // inet_pton reads exactly one address and nothing around it (no brackets, no /64, no
    // %scope, no blanks), which is what an echo service must answer.
    if (text.empty() || text.size() > INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    const std::string s(text);
    std::array<char, INET6_ADDRSTRLEN> buffer{};
    if (family == Family::V4) {
        in_addr a{};
        if (inet_pton(AF_INET, s.c_str(), &a) != 1 ||
            inet_ntop(AF_INET, &a, buffer.data(), buffer.size()) == nullptr) {
            return std::nullopt;
        }
    } else {
        in6_addr a{};
        if (inet_pton(AF_INET6, s.c_str(), &a) != 1 ||
            inet_ntop(AF_INET6, &a, buffer.data(), buffer.size()) == nullptr) {
            return std::nullopt;
        }
    }
    return std::string(buffer.data());
}

std::string notPublic(Family family, const std::string& address) {
    if (family == Family::V4) {
        in_addr in{};
        if (inet_pton(AF_INET, address.c_str(), &in) != 1) {
            return "reserved";
        }
        const std::uint32_t a = ntohl(in.s_addr);
        // RFC 6890's special-purpose registry, the parts a host might see.
        static const std::vector<std::tuple<std::uint32_t, unsigned, const char*>> table = {
            {0x00000000, 8, "unspecified"},         {0x0a000000, 8, "private (RFC 1918)"},
            {0x64400000, 10, "shared (RFC 6598)"},  {0x7f000000, 8, "loopback"},
            {0xa9fe0000, 16, "link-local"},         {0xac100000, 12, "private (RFC 1918)"},
            {0xc0000000, 24, "reserved"},           {0xc0000200, 24, "documentation"},
            {0xc0a80000, 16, "private (RFC 1918)"}, {0xc6120000, 15, "reserved"},
            {0xc6336400, 24, "documentation"},      {0xcb007100, 24, "documentation"},
            {0xe0000000, 4, "multicast"},           {0xf0000000, 4, "reserved"}};
        for (const auto& [net, bits, why] : table) {
            if (inV4(a, net, bits)) {
                return why;
            }
        }
        return "";
    }
    const auto a = bytesV6(address);
    if (a == std::array<std::uint8_t, 16>{}) {
        return "unspecified";
    }
    if (a == std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}) {
        return "loopback";
    }
    if (inV6(a, {0xfe, 0x80}, 10)) {
        return "link-local";
    }
    if (inV6(a, {0xfc}, 7)) {
        return "unique local (RFC 4193)";
    }
    if (inV6(a, {0xff}, 8)) {
        return "multicast";
    }
    if (inV6(a, {0x20, 0x01, 0x0d, 0xb8}, 32)) {
        return "documentation";
    }
    // Global unicast is 2000::/3 (RFC 4291 §2.4); the rest (IPv4-mapped, discard ...) is not
    // for an address record.
    if (!inV6(a, {0x20}, 3)) {
        return "reserved";
    }
    return "";
}

Source parseSource(std::string_view text, const Location& where) {
    const std::string_view t = trim(text);
    Source s;
    s.text = std::string(t);
    const auto startsWith = [&](std::string_view prefix) {
        return t.size() >= prefix.size() &&
               std::equal(prefix.begin(), prefix.end(), t.begin(), [](char a, char b) {
                   return a == std::tolower(static_cast<unsigned char>(b));
               });
    };
    if (startsWith("https://") || startsWith("http://")) {
        const auto host = t.substr(t.find("//") + 2);
        if (host.empty() || host.front() == '/' ||
            t.find_first_of(" \t") != std::string_view::npos) {
            throw Error(Exit::Config, "source " + quoted(t) + " is not a usable URL", where);
        }
        s.kind = Source::Kind::Url;
        s.target = std::string(t);
        return s;
    }
    if (startsWith("interface:")) {
        s.kind = Source::Kind::Interface;
        s.target = std::string(trim(t.substr(10)));
        if (s.target.empty() || s.target.find_first_of(" \t/") != std::string::npos) {
            throw Error(Exit::Config, "source " + quoted(t) + " names no interface", where);
        }
        return s;
    }
    if (startsWith("command:")) {
        s.kind = Source::Kind::Command;
        s.argv = command::splitWords(t.substr(8), where);
        if (s.argv.empty() || s.argv.front().empty()) {
            throw Error(Exit::Config, "source " + quoted(t) + " names no program", where);
        }
        s.target = s.argv.front();
        return s;
    }
    throw Error(Exit::Config,
                "source " + quoted(t) +
                    " is none of https://..., http://..., interface:NAME, command:PROGRAM ...",
                where);
}

std::vector<Source> parseSources(std::string_view list, const Location& where) {
    std::vector<Source> out;
    for (const auto& item : config::listItems(list)) {
        out.push_back(parseSource(item, where));
    }
    if (out.empty()) {
        throw Error(Exit::Config, "no source in " + quoted(list), where);
    }
    return out;
}

std::vector<Source> defaultSources(Family family) {
    // The original's hosts (dnsuptools.py), over https only: a plain-http answer can be
    // changed by anyone on the path, and it becomes a DNS record. An http source is asked only
    // when the configuration or the command line names one.
    const std::string host = family == Family::V4 ? "ipv4.icanhazip.com" : "ipv6.icanhazip.com";
    return {parseSource("https://" + host)};
}

std::chrono::seconds parseTimeout(std::string_view text, const Location& where) {
    const std::string_view t = trim(text);
    if (t.empty() || t.size() > 3 || t.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(t)) < 1 || std::stoi(std::string(t)) > 300) {
        throw Error(Exit::Config,
                    "iptimeout " + quoted(text) + " is not a number of seconds from 1 to 300",
                    where);
    }
    return std::chrono::seconds(std::stoi(std::string(t)));
}

std::optional<std::string> pickInterfaceAddress(Family family,
                                                const std::vector<std::string>& addresses) {
    if (family == Family::V4) {
        for (const auto& a : addresses) {
            if (notPublic(family, a) != "link-local") {
                return a;
            }
        }
        return std::nullopt;
    }
    std::optional<std::string> best;
    V6Rank bestRank = V6Rank::LinkLocal;
    for (const auto& a : addresses) {
        const V6Rank r = rankV6(a);
        if (r < bestRank) {
            best = a;
            bestRank = r;
        }
    }
    return best;
}

std::vector<std::string> interfaceAddresses(const std::string& name, Family family) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) {
        throw Error(Exit::Unavailable,
                    std::string("unable to list the interfaces: ") + std::strerror(errno));
    }
    const std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owner(list, &freeifaddrs);
    bool found = false;
    std::vector<std::string> out;
    for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_name == nullptr || name != i->ifa_name) {
            continue;
        }
        found = true;
        if (i->ifa_addr == nullptr) {
            continue;
        }
        std::array<char, INET6_ADDRSTRLEN> buffer{};
        const int af = i->ifa_addr->sa_family;
        if (af == AF_INET && family == Family::V4) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
            inet_ntop(AF_INET, &sin->sin_addr, buffer.data(), buffer.size());
            out.emplace_back(buffer.data());
        } else if (af == AF_INET6 && family == Family::V6) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
            inet_ntop(AF_INET6, &sin6->sin6_addr, buffer.data(), buffer.size());
            out.emplace_back(buffer.data());
        }
    }
    if (!found) {
        throw Error(Exit::Unavailable, "no such interface " + quoted(name));
    }
    return out;
}

std::string ask(Family family, const Source& source, const Options& options) {
    const std::string who = quoted(source.text) + ": ";
    const auto parsed = [&](std::string_view answer, std::string_view what) {
        const std::string_view t = trim(answer);
        if (t.empty()) {
            throw Error(Exit::Unavailable, who + std::string(what) + " is empty");
        }
        auto address = parseAddress(family, t);
        if (!address) {
            throw Error(Exit::Unavailable, who + std::string(what) + " '" + shown(t) +
                                               "' is not an " + familyName(family) + " address");
        }
        return *address;
    };
    switch (source.kind) {
    case Source::Kind::Url: {
        http::Options o;
        o.caBundle = options.caBundle;
        o.timeout = options.timeout;
        o.connectTimeout = options.timeout;
        o.maxResponseBytes = 4096; // an address is at most 39 characters
        http::Client client(o);
        http::Response response;
        try {
            response = client.request("GET", source.target, {"Accept: text/plain"});
        } catch (const Error& e) {
            // libcurl's reason, without http.cpp's "unable to reach 'URL': " around it.
            const std::string prefix = "unable to reach '" + source.target + "': ";
            const std::string& m = e.message();
            throw Error(Exit::Unavailable,
                        who + "unable to reach it: " +
                            (m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m));
        }
        if (response.status != 200) {
            throw Error(Exit::Unavailable, who + "HTTP status " + std::to_string(response.status));
        }
        return parsed(response.body, "answer");
    }
    case Source::Kind::Interface: {
        std::vector<std::string> all;
        try {
            all = interfaceAddresses(source.target, family);
        } catch (const Error& e) {
            throw Error(e.code(), who + e.message());
        }
        auto address = pickInterfaceAddress(family, all);
        if (!address) {
            throw Error(Exit::Unavailable,
                        who + (all.empty() ? "no " : "no usable (only link-local) ") +
                            familyName(family) + " address");
        }
        return *address;
    }
    case Source::Kind::Command: {
        command::Result result;
        try {
            command::Options run;
            run.timeout = options.commandTimeout;
            result = command::run(source.argv, run);
        } catch (const Error& e) {
            throw Error(e.code(), who + e.message());
        }
        if (!result.ok()) {
            const std::string first = result.err.substr(0, result.err.find('\n'));
            const std::string_view line = trim(first);
            throw Error(Exit::Unavailable, who + result.describe() + (line.empty() ? "" : ": " + shown(line)));
        }
        const std::string first = result.out.substr(0, result.out.find('\n'));
        return parsed(first, "first line");
    }
    }
    throw Error(Exit::Software, who + "unknown kind of source");
}

Detection detect(Family family, const std::vector<Source>& sources, const Options& options) {
    Detection d;
    for (std::size_t i = 0; i < sources.size(); ++i) {
        const Source& s = sources[i];
        try {
            d.address = ask(family, s, options);
            d.source = s.text;
        } catch (const Error& e) {
            if (e.code() != Exit::Unavailable) {
                throw;
            }
            const std::string& line = e.message();
            d.errors.push_back(line);
            log::warn(std::string(toString(family)) + " source " + line +
                      (i + 1 < sources.size() ? ", trying the next" : ", no source left"));
            continue;
        }
        if (const auto why = notPublic(family, *d.address); !why.empty()) {
            log::warn(std::string(toString(family)) + " address " + *d.address + " from " +
                      quoted(s.text) + " is not a public address (" + why + "), using it anyway");
        }
        log::info("detected " + std::string(toString(family)) + " " + *d.address + " from " +
                  quoted(s.text));
        return d;
    }
    return d;
}

// ------------------------------------------------------------------ the pipe

namespace {

void requireReadable(const std::string& caBundle) {
    if (!caBundle.empty() && access(caBundle.c_str(), R_OK) != 0) {
        throw Error(Exit::NoInput, "unable to read the CA bundle " + quoted(caBundle) + ": " +
                                       std::strerror(errno));
    }
}

// What one placeholder needs: the family and the sources with their timeout.
struct Need {
    Family family = Family::V4;
    std::vector<Source> sources;
    std::chrono::seconds timeout{4};

    std::string key() const {
        std::string k = std::string(toString(family)) + "\n" + std::to_string(timeout.count());
        for (const auto& s : sources) {
            k += "\n" + s.text;
        }
        return k;
    }
};

// The [domain:NAME] section whose keys apply to a record: its own, else [domain] (DEFAULT),
// whose keys cdm-config has already resolved into every named section.
std::string sectionFor(const json::object& doc, const std::string& name) {
    const bool own = !name.empty() && document::sectionKeys(doc, "domain", name) != nullptr;
    return own ? name : "DEFAULT";
}

// A key of that section and where it was set; nullopt when unset.
std::optional<std::pair<std::string, Location>> keyOf(const json::object& doc,
                                                      const std::string& section,
                                                      std::string_view key) {
    auto value = document::sectionKey(doc, "domain", section, key);
    if (!value) {
        return std::nullopt;
    }
    return std::pair{std::move(*value), document::keyLocation(doc, "domain", section, key)};
}

} // namespace

std::string print(Family family, const std::vector<Source>& sources,
                  std::optional<std::chrono::seconds> timeout, const std::string& caBundle) {
    requireReadable(caBundle);
    Options options;
    options.caBundle = caBundle;
    if (timeout) {
        options.timeout = *timeout;
    }
    const Detection d = detect(family, sources, options);
    if (!d.address) {
        std::string why;
        for (const auto& e : d.errors) {
            why += "; " + e;
        }
        throw Error(Exit::Unavailable, "no " + familyName(family) + " address" + why);
    }
    return *d.address;
}

Result fill(json::object doc, const Request& request) {
    requireReadable(request.caBundle);
    Result result;
    auto* records = doc.if_contains("records");
    if (records == nullptr || !records->is_array()) {
        result.document = std::move(doc);
        return result;
    }
    auto& array = records->get_array();

    // Everything is checked before anything is asked: bad input changes nothing.
    struct Slot {
        std::size_t index;
        std::string name;
        std::string key;
    };
    std::vector<Slot> slots;
    std::map<std::string, Need> needs;
    std::vector<std::string> order; // keys in the order first asked for
    for (std::size_t i = 0; i < array.size(); ++i) {
        const auto* o = array[i].is_object() ? &array[i].get_object() : nullptr;
        const auto* placeholder = o != nullptr ? o->if_contains("auto") : nullptr;
        if (placeholder == nullptr || !placeholder->is_string()) {
            continue;
        }
        const std::string_view text = placeholder->get_string();
        if (text != "ip4" && text != "ip6") {
            continue; // another program's placeholder (caa:NAME)
        }
        const auto family = familyFromString(text);
        const std::string path = "records[" + std::to_string(i) + "]";
        const auto r = document::recordFromJson(array[i], path);
        const auto want = *family == Family::V4 ? record::Type::A : record::Type::AAAA;
        if (r.type != want) {
            throw Error(Exit::DataErr,
                        "an '" + std::string(toString(*family)) + "' placeholder on a " +
                            std::string(record::toString(r.type)) + " record",
                        Location{request.sourceName, 0, path + ".auto"});
        }
        if (r.data) {
            continue; // filled already (a second cdm-ip in the pipe)
        }
        const std::string section = sectionFor(doc, r.section);
        Need need;
        need.family = *family;
        const auto& given = *family == Family::V4 ? request.ip4Sources : request.ip6Sources;
        if (given) {
            need.sources = *given;
        } else if (const auto list =
                       keyOf(doc, section, *family == Family::V4 ? "ip4detect" : "ip6detect")) {
            need.sources = parseSources(list->first, list->second);
        } else {
            need.sources = defaultSources(*family);
        }
        if (request.timeout) {
            need.timeout = *request.timeout;
        } else if (const auto t = keyOf(doc, section, "iptimeout")) {
            need.timeout = parseTimeout(t->first, t->second);
        }
        const std::string key = need.key();
        if (needs.emplace(key, need).second) {
            order.push_back(key);
        }
        slots.push_back({i, r.name, key});
    }

    std::map<std::string, Detection> found;
    for (const auto& key : order) {
        const Need& need = needs.at(key);
        Options options;
        options.timeout = need.timeout;
        options.caBundle = request.caBundle;
        found[key] = detect(need.family, need.sources, options);
    }

    std::vector<std::string> failedNames;
    for (const auto& key : order) {
        const Need& need = needs.at(key);
        const Detection& d = found.at(key);
        std::size_t count = 0;
        std::vector<std::string> names;
        for (const auto& slot : slots) {
            if (slot.key != key) {
                continue;
            }
            if (d.address) {
                auto& o = array[slot.index].get_object();
                o["data"] = *d.address;
                o["detected"] = d.source;
                o.erase("auto");
                ++count;
            } else if (std::find(names.begin(), names.end(), slot.name) == names.end()) {
                names.push_back(slot.name);
            }
            if (!d.address) {
                ++result.unfilled;
            }
        }
        const std::string family(toString(need.family));
        if (d.address) {
            result.filled += count;
            document::report(doc, "cdm-ip", "detected",
                             {{"family", family},
                              {"address", *d.address},
                              {"source", d.source},
                              {"records", count}});
            continue;
        }
        json::array errors;
        for (const auto& e : d.errors) {
            errors.emplace_back(e);
        }
        for (const auto& name : names) {
            log::error("no " + family + " address for " + name + ": every source failed; its " +
                       (need.family == Family::V4 ? "A" : "AAAA") +
                       " records are left as they are");
            document::report(doc, "cdm-ip", "failed",
                             {{"family", family}, {"name", name}, {"errors", errors}});
            failedNames.push_back(family + " " + name);
        }
    }
    if (!failedNames.empty()) {
        std::string list;
        for (const auto& n : failedNames) {
            list += (list.empty() ? "" : ", ") + n;
        }
        result.failure = Error(Exit::Unavailable, "no address detected for " + list);
    }
    result.document = std::move(doc);
    return result;
}

} // namespace cdm::ipdetect
