#include "libcommon/provider/rfc2136.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <random>
#include <set>
#include <sstream>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "libcommon/faultpoint.hpp"
#include "libcommon/ldns_ptr.hpp"
#include "libcommon/log.hpp"
#include "libcommon/name.hpp"
#include "libcommon/provider/providers.hpp"
#include "libcommon/resolve.hpp"
#include "libcommon/tsig.hpp"

namespace cdm::provider {

namespace rfc2136 {

namespace {

constexpr std::uint16_t classIn = 1;
constexpr std::uint16_t classNone = 254;
constexpr std::uint16_t classAny = 255;
constexpr std::uint16_t typeSoa = 6;
constexpr std::uint16_t opcodeUpdate = 5;

void putU16(std::vector<std::uint8_t>& out, std::uint32_t v) {
    out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xff));
    out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void putU32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    putU16(out, v >> 16);
    putU16(out, v & 0xffff);
}

void putHeader(std::vector<std::uint8_t>& out, std::uint16_t id, std::uint16_t flags,
               std::uint16_t qd, std::uint16_t an, std::uint16_t ns, std::uint16_t ar) {
    putU16(out, id);
    putU16(out, flags);
    putU16(out, qd);
    putU16(out, an);
    putU16(out, ns);
    putU16(out, ar);
}

// One RRset's part of an UPDATE message: its prerequisite records and its update records
// (replacement, additions, deletions), each already in wire form.
struct Unit {
    std::size_t index = 0;
    std::vector<std::uint8_t> prereq, replace, adds, deletes;
    std::uint16_t nPrereq = 0, nReplace = 0, nAdds = 0, nDeletes = 0;
    std::size_t size() const {
        return prereq.size() + replace.size() + adds.size() + deletes.size();
    }
};

class Encoder {
public:
    explicit Encoder(const std::string& zone) : zone_(zone), zoneWire_(name::toWire(zone)) {}

    const std::string& zoneWire() const { return zoneWire_; }

    // The owner name compressed against the zone name at offset 12.
    void owner(std::vector<std::uint8_t>& out, const std::string& name) const {
        const std::string wire = name::toWire(name);
        if (!name::isSubdomain(name, zone_) || wire.size() < zoneWire_.size()) {
            throw Error(Exit::DataErr, "record '" + name + "' is not in zone '" + zone_ + "'");
        }
        out.insert(out.end(), wire.begin(),
                   wire.end() - static_cast<std::ptrdiff_t>(zoneWire_.size()));
        out.push_back(0xc0);
        out.push_back(12);
    }

    void rr(std::vector<std::uint8_t>& out, const std::string& name, std::uint16_t type,
            std::uint16_t cls, std::uint32_t ttl, const std::vector<std::uint8_t>* rdata) const {
        owner(out, name);
        putU16(out, type);
        putU16(out, cls);
        putU32(out, ttl);
        if (rdata == nullptr) {
            putU16(out, 0);
            return;
        }
        putU16(out, static_cast<std::uint32_t>(rdata->size()));
        out.insert(out.end(), rdata->begin(), rdata->end());
    }

private:
    std::string zone_;
    std::string zoneWire_;
};

std::uint16_t typeNumber(record::Type t) {
    return static_cast<std::uint16_t>(t);
}

std::string describe(const RRsetKey& key) {
    return "'" + key.name + "' " + std::string(record::toString(key.type));
}

enum class Kind { AddsOnly, Replaces, DeletesOnly };

} // namespace

std::vector<Update> buildUpdates(const Change& change, std::size_t limit) {
    const std::string zone = name::normalize(change.zone);
    const Encoder enc(zone);
    const std::size_t fixed = 12 + enc.zoneWire().size() + 4;

    std::vector<std::pair<Kind, Unit>> units;
    units.reserve(change.rrsets.size());
    for (std::size_t i = 0; i < change.rrsets.size(); ++i) {
        const RRsetChange& c = change.rrsets[i];
        const std::string owner = name::normalize(c.key.name);
        const std::uint16_t type = typeNumber(c.key.type);
        const auto adds = c.adds();
        const auto deletes = c.deletes();
        const bool ttl = c.ttlChanged();
        if (adds.empty() && deletes.empty() && !ttl) {
            continue;
        }
        Unit u;
        u.index = i;
        if (c.before.empty()) {
            enc.rr(u.prereq, owner, type, classNone, 0, nullptr); // RRset does not exist
            u.nPrereq = 1;
        } else {
            for (const auto& r : c.before) { // RRset exists (value dependent)
                const auto rdata = record::toWire(r.type, r.data);
                enc.rr(u.prereq, owner, type, classIn, 0, &rdata);
                ++u.nPrereq;
            }
        }
        if (ttl) {
            // BIND gives the whole RRset the TTL of an RR added again with another TTL, but
            // RFC 2136 does not say so: delete the RRset and add it anew, atomically.
            enc.rr(u.replace, owner, type, classAny, 0, nullptr);
            ++u.nReplace;
            for (const auto& r : c.after) {
                const auto rdata = record::toWire(r.type, r.data);
                enc.rr(u.replace, owner, type, classIn, r.ttl, &rdata);
                ++u.nReplace;
            }
        } else {
            for (const auto& r : adds) {
                const auto rdata = record::toWire(r.type, r.data);
                enc.rr(u.adds, owner, type, classIn, r.ttl, &rdata);
                ++u.nAdds;
            }
            for (const auto& r : deletes) {
                const auto rdata = record::toWire(r.type, r.data);
                enc.rr(u.deletes, owner, type, classNone, 0, &rdata);
                ++u.nDeletes;
            }
        }
        if (fixed + u.size() > limit) {
            throw Error(Exit::DataErr, "the change of RRset " + describe(c.key) + " (" +
                                           std::to_string(fixed + u.size()) +
                                           " octets) does not fit in one UPDATE message of " +
                                           std::to_string(limit) + " octets");
        }
        const Kind kind = ttl || (!adds.empty() && !deletes.empty()) ? Kind::Replaces
                          : deletes.empty()                          ? Kind::AddsOnly
                                                                     : Kind::DeletesOnly;
        units.emplace_back(kind, std::move(u));
    }
    std::stable_sort(units.begin(), units.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });

    std::vector<Update> out;
    std::size_t begin = 0;
    while (begin < units.size()) {
        std::size_t end = begin;
        std::size_t size = fixed;
        std::size_t prereqs = 0, updates = 0;
        while (end < units.size() && size + units[end].second.size() <= limit) {
            const Unit& u = units[end].second;
            size += u.size();
            prereqs += u.nPrereq;
            updates += std::size_t{u.nReplace} + u.nAdds + u.nDeletes;
            ++end;
        }
        Update m;
        m.wire.reserve(size);
        putHeader(m.wire, 0, opcodeUpdate << 11, 1, static_cast<std::uint16_t>(prereqs),
                  static_cast<std::uint16_t>(updates), 0);
        m.wire.insert(m.wire.end(), enc.zoneWire().begin(), enc.zoneWire().end());
        putU16(m.wire, typeSoa);
        putU16(m.wire, classIn);
        for (std::size_t i = begin; i < end; ++i) {
            const Unit& u = units[i].second;
            m.wire.insert(m.wire.end(), u.prereq.begin(), u.prereq.end());
            m.rrsets.push_back(u.index);
        }
        for (std::size_t i = begin; i < end; ++i) {
            m.wire.insert(m.wire.end(), units[i].second.replace.begin(),
                          units[i].second.replace.end());
        }
        for (std::size_t i = begin; i < end; ++i) {
            m.wire.insert(m.wire.end(), units[i].second.adds.begin(), units[i].second.adds.end());
        }
        for (std::size_t i = begin; i < end; ++i) {
            const Unit& u = units[i].second;
            m.wire.insert(m.wire.end(), u.deletes.begin(), u.deletes.end());
            if (u.nReplace != 0 || u.nDeletes != 0) {
                m.addsOnly = false;
            }
        }
        out.push_back(std::move(m));
        begin = end;
    }
    return out;
}

std::vector<std::uint8_t> buildQuery(std::uint16_t id, std::string_view owner, std::uint16_t type) {
    std::vector<std::uint8_t> out;
    putHeader(out, id, 0, 1, 0, 0, 0);
    const std::string wire = name::toWire(owner);
    out.insert(out.end(), wire.begin(), wire.end());
    putU16(out, type);
    putU16(out, classIn);
    return out;
}

std::string rcodeName(unsigned rcode) {
    static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                  "NXRRSET", "NOTAUTH", "NOTZONE"};
    if (rcode < std::size(names)) {
        return names[rcode];
    }
    return "RCODE " + std::to_string(rcode);
}

Answer parseAnswer(const std::vector<std::uint8_t>& message) {
    ldns_pkt* raw = nullptr;
    if (ldns_wire2pkt(&raw, message.data(), message.size()) != LDNS_STATUS_OK || raw == nullptr) {
        throw Error(Exit::Unavailable, "the server sent a message that is not DNS");
    }
    const ldnsp::Pkt pkt(raw);
    Answer a;
    a.rcode = static_cast<unsigned>(ldns_pkt_get_rcode(pkt.get()));
    a.authoritative = ldns_pkt_aa(pkt.get());
    a.id = ldns_pkt_id(pkt.get());
    const ldns_rr_list* rrs = ldns_pkt_answer(pkt.get());
    const std::size_t n = rrs ? ldns_rr_list_rr_count(rrs) : 0;
    a.records.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const ldns_rr* rr = ldns_rr_list_rr(rrs, i);
        const auto type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
        if (!record::typeFromString("TYPE" + std::to_string(type))) {
            ++a.skipped;
            continue;
        }
        char* text = ldns_rr2str(rr);
        std::string line = text != nullptr ? text : "";
        LDNS_FREE(text);
        while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) {
            line.pop_back();
        }
        try {
            a.records.push_back(record::Record::parseLine(line));
        } catch (const Error&) {
            a.unreadable.push_back(line);
        }
    }
    return a;
}

} // namespace rfc2136

namespace {

using rfc2136::Answer;
using rfc2136::rcodeName;

constexpr unsigned rcodeNxdomain = 3;
constexpr unsigned rcodeNotimp = 4;
constexpr unsigned rcodeRefused = 5;
constexpr unsigned rcodeYxdomain = 6;
constexpr unsigned rcodeYxrrset = 7;
constexpr unsigned rcodeNxrrset = 8;
constexpr unsigned rcodeNotauth = 9;
constexpr unsigned rcodeNotzone = 10;
constexpr unsigned rcodeFormerr = 1;

std::uint64_t now() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

std::uint16_t getU16(const std::vector<std::uint8_t>& m, std::size_t at) {
    return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

bool isAddress(const std::string& text) {
    unsigned char buf[16];
    return inet_pton(AF_INET, text.c_str(), buf) == 1 ||
           inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

std::string endpoint(const std::string& address, std::uint16_t port) {
    return address + "#" + std::to_string(port);
}

// A TCP connection to the primary: the first of its addresses that accepts, DNS messages
// with the two-octet length of RFC 1035 §4.2.2, a deadline on every wait.
class Connection {
public:
    Connection(const std::vector<std::string>& addresses, std::uint16_t port,
               std::chrono::milliseconds timeout, const std::string& zone)
        : timeout_(timeout) {
        std::string why;
        for (const auto& a : addresses) {
            where_ = endpoint(a, port);
            const int fd = open(a, port, why);
            if (fd >= 0) {
                fd_ = fd;
                log::debug("rfc2136: connected to " + where_ + " for zone '" + zone + "'");
                return;
            }
        }
        if (addresses.size() > 1) {
            where_ = endpoint(addresses.front(), port) + " and " +
                     std::to_string(addresses.size() - 1) + " more";
        }
        throw Error(Exit::Unavailable,
                    "unable to reach the primary of zone '" + zone + "' at " + where_ + ": " + why);
    }
    ~Connection() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    const std::string& where() const { return where_; }

    // Queue a message; flush() writes what is queued.
    void queue(const std::vector<std::uint8_t>& message) {
        out_.push_back(static_cast<std::uint8_t>(message.size() >> 8));
        out_.push_back(static_cast<std::uint8_t>(message.size() & 0xff));
        out_.insert(out_.end(), message.begin(), message.end());
    }

    void flush() {
        std::size_t done = 0;
        while (done < out_.size()) {
            wait(POLLOUT, "to take the request");
            const ssize_t n = ::send(fd_, out_.data() + done, out_.size() - done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                throw Error(Exit::Unavailable,
                            "unable to send to " + where_ + ": " + std::strerror(errno));
            }
            done += static_cast<std::size_t>(n);
        }
        out_.clear();
    }

    void send(const std::vector<std::uint8_t>& message) {
        queue(message);
        flush();
    }

    // The next message; nullopt when the server closed the connection before its first octet.
    std::optional<std::vector<std::uint8_t>> receive() {
        std::uint8_t len[2];
        if (!readExactly(len, 2, true)) {
            return std::nullopt;
        }
        std::vector<std::uint8_t> message(static_cast<std::size_t>((len[0] << 8) | len[1]));
        readExactly(message.data(), message.size(), false);
        return message;
    }

private:
    int open(const std::string& address, std::uint16_t port, std::string& why) const {
        sockaddr_storage ss{};
        socklen_t len = 0;
        int family = AF_INET;
        if (auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
            inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(port);
            len = sizeof(sockaddr_in);
        } else if (auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
                   inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(port);
            len = sizeof(sockaddr_in6);
            family = AF_INET6;
        } else {
            why = "'" + address + "' is not an IP address";
            return -1;
        }
        const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            why = std::string("unable to create a socket: ") + std::strerror(errno);
            return -1;
        }
        if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
            why = std::strerror(errno);
            ::close(fd);
            return -1;
        }
        pollfd p{fd, POLLOUT, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(timeout_.count()));
        int err = 0;
        socklen_t errLen = sizeof(err);
        if (ready <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errLen) != 0 || err != 0) {
            why = ready <= 0 ? "no connection within " + seconds() : std::strerror(err);
            ::close(fd);
            return -1;
        }
        return fd;
    }

    std::string seconds() const { return std::to_string((timeout_.count() + 999) / 1000) + " s"; }

    void wait(short events, const char* what) {
        pollfd p{fd_, events, 0};
        int ready = 0;
        do {
            ready = ::poll(&p, 1, static_cast<int>(timeout_.count()));
        } while (ready < 0 && errno == EINTR);
        if (ready == 0) {
            throw Error(Exit::Unavailable, "no answer from " + where_ + " within " + seconds() +
                                               " (waiting " + what + ")");
        }
        if (ready < 0) {
            throw Error(Exit::Unavailable,
                        "unable to wait for " + where_ + ": " + std::strerror(errno));
        }
    }

    bool readExactly(std::uint8_t* into, std::size_t n, bool eofOk) {
        std::size_t got = 0;
        while (got < n) {
            wait(POLLIN, "for the answer");
            const ssize_t r = ::recv(fd_, into + got, n - got, 0);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                throw Error(Exit::Unavailable,
                            "unable to read from " + where_ + ": " + std::strerror(errno));
            }
            if (r == 0) {
                if (eofOk && got == 0) {
                    return false;
                }
                throw Error(Exit::Unavailable,
                            where_ + " closed the connection in the middle of an answer");
            }
            got += static_cast<std::size_t>(r);
        }
        return true;
    }

    int fd_ = -1;
    std::string where_;
    std::chrono::milliseconds timeout_;
    std::vector<std::uint8_t> out_;
};

class Rfc2136 : public Provider {
public:
    explicit Rfc2136(const Settings& settings) : settings_(settings) {
        port_ = static_cast<std::uint16_t>(settings.number("port", 53, 1, 65535));
        timeout_ = std::chrono::seconds(settings.number("timeout", 10, 1, 3600));
        if (const auto s = settings.get("server"); s && !s->empty()) {
            server_ = *s;
        }
        const std::string axfr = settings.get("axfr").value_or("yes");
        if (axfr == "yes" || axfr == "true" || axfr == "1") {
            axfr_ = true;
        } else if (axfr == "no" || axfr == "false" || axfr == "0") {
            axfr_ = false;
        } else {
            throw Error(Exit::Config, "axfr '" + axfr + "' is neither yes nor no",
                        settings.locate("axfr"));
        }
        loadKey();
    }

    ZoneContents read(const std::string& zoneText, const std::vector<RRsetKey>& wanted) override {
        const std::string zone = name::normalize(zoneText);
        const auto addresses = primary(zone);
        if (axfr_) {
            Connection conn(addresses, port_, timeout_, zone);
            if (auto z = transfer(conn, zone, wanted)) {
                return *z;
            }
        } else {
            log::debug("rfc2136: axfr = no: reading " + std::to_string(wanted.size()) +
                       " RRsets of zone '" + zone + "' by queries");
        }
        Connection conn(addresses, port_, timeout_, zone);
        return queries(conn, zone, wanted);
    }

    Applied apply(const Change& change) override {
        const std::string zone = name::normalize(change.zone);
        Applied applied;
        const std::size_t limit = rfc2136::maxMessage - (key_ ? tsig::recordSize(*key_) : 0);
        const auto updates = rfc2136::buildUpdates(change, limit);
        if (updates.empty()) {
            return applied;
        }
        std::size_t total = 0;
        for (const auto& u : updates) {
            total += u.rrsets.size();
        }
        Connection conn(primary(zone), port_, timeout_, zone);
        std::size_t done = 0;
        for (std::size_t i = 0; i < updates.size(); ++i) {
            const auto& u = updates[i];
            const std::string progress = done == 0
                                             ? std::string()
                                             : " (applied " + std::to_string(done) + " of " +
                                                   std::to_string(total) + " RRsets before it)";
            log::debug("rfc2136: UPDATE " + std::to_string(i + 1) + " of " +
                       std::to_string(updates.size()) + " to " + conn.where() + " for zone '" +
                       zone + "': " + std::to_string(u.rrsets.size()) + " RRsets, " +
                       std::to_string(u.wire.size()) + " octets" +
                       (u.addsOnly ? ", additions only" : ""));
            // A crash here leaves the zone with some of this process's changes and not the rest.
            static std::atomic<std::size_t> sentByThisProcess{0};
            if (sentByThisProcess.load() > 0) {
                fault::point("dns.between-updates");
            }
            auto message = u.wire;
            std::vector<std::uint8_t> answer;
            try {
                answer = exchange(conn, message, zone, "UPDATE");
            } catch (const Error& e) {
                if (e.code() != Exit::Unavailable) {
                    throw;
                }
                throw Error(e.code(),
                            e.message() + progress + "; whether UPDATE " + std::to_string(i + 1) +
                                " of " + std::to_string(updates.size()) +
                                " was applied is unknown: a rerun reads the zone and converges");
            }
            ++applied.messages;
            ++sentByThisProcess;
            checkUpdate(answer, conn, zone, progress, updates.size() > 1 ? i + 1 : 0,
                        updates.size());
            done += u.rrsets.size();
        }
        try {
            applied.serial = soaOf(conn, zone).first;
        } catch (const Error& e) {
            log::warn("the change of zone '" + zone +
                      "' was applied, but its SOA serial could not be read: " + e.message());
        }
        return applied;
    }

private:
    void loadKey() {
        const auto keyfile = settings_.get("keyfile");
        const auto keyName = settings_.get("key");
        if (keyfile && !keyfile->empty()) {
            if (settings_.get("tsig_secret_file") ||
                settings_.secretRefs.count("tsig_secret") != 0) {
                throw Error(Exit::Config, "set either 'keyfile' or 'tsig_secret', not both",
                            settings_.locate("keyfile"));
            }
            key_.emplace(tsig::readKeyFile(*keyfile, keyName.value_or("")));
        } else if (keyName && !keyName->empty()) {
            auto secret = settings_.secret("tsig_secret");
            if (!secret || secret->empty()) {
                throw Error(Exit::Config,
                            "the rfc2136 provider needs 'tsig_secret' (or 'tsig_secret_file') with "
                            "'key' in " +
                                settings_.section + ", or a 'keyfile'",
                            settings_.locate("key"));
            }
            try {
                key_.emplace(tsig::makeKey(*keyName,
                                           settings_.get("algorithm").value_or("hmac-sha256"),
                                           *secret, settings_.locate("key")));
            } catch (...) {
                OPENSSL_cleanse(secret->data(), secret->size());
                throw;
            }
            OPENSSL_cleanse(secret->data(), secret->size());
        } else if (settings_.get("algorithm") || settings_.get("tsig_secret_file") ||
                   settings_.secretRefs.count("tsig_secret") != 0) {
            throw Error(Exit::Config,
                        "'algorithm' and 'tsig_secret' need 'key' (the key's name) in " +
                            settings_.section,
                        settings_.locate("handler"));
        } else {
            log::debug("rfc2136: " + settings_.section + " names no TSIG key: updates go unsigned");
        }
        if (key_) {
            log::debug("rfc2136: signing with key '" + key_->name + "' (" +
                       std::string(tsig::toString(key_->algorithm)) + ")");
        }
    }

    std::string keyText() const { return key_ ? "key '" + key_->name + "'" : "no TSIG key"; }

    // The primary's addresses: `server` (an address, or a name looked up), else the SOA MNAME.
    std::vector<std::string> primary(const std::string& zone) {
        if (const auto it = primaries_.find(zone); it != primaries_.end()) {
            return it->second;
        }
        std::string host;
        if (server_) {
            host = *server_;
        } else {
            const auto soa = resolve::query(settings_.resolver, zone, record::Type::SOA);
            if (soa.records.empty()) {
                throw Error(Exit::Unavailable,
                            "no SOA record of zone '" + zone + "' (" +
                                rcodeName(static_cast<unsigned>(soa.rcode)) +
                                ") to find its primary; set 'server' in " + settings_.section,
                            settings_.locate("handler"));
            }
            host = soa.records.front().data.substr(0, soa.records.front().data.find(' '));
            log::debug("rfc2136: the primary of zone '" + zone + "' is its SOA MNAME " + host);
        }
        std::vector<std::string> addresses;
        if (isAddress(host)) {
            addresses.push_back(host);
        } else {
            addresses = resolve::addresses(settings_.resolver, host);
            if (addresses.empty()) {
                throw Error(Exit::Unavailable,
                            "the primary '" + host + "' of zone '" + zone + "' has no address",
                            settings_.locate(server_ ? "server" : "handler"));
            }
        }
        primaries_[zone] = addresses;
        return addresses;
    }

    // Sign (when there is a key), send, receive and verify one request with one answer.
    std::vector<std::uint8_t> exchange(Connection& conn, std::vector<std::uint8_t>& message,
                                       const std::string& zone, const std::string& what) {
        const std::uint16_t id = nextId();
        message[0] = static_cast<std::uint8_t>(id >> 8);
        message[1] = static_cast<std::uint8_t>(id & 0xff);
        std::vector<std::uint8_t> mac;
        if (key_) {
            mac = tsig::sign(*key_, message, now());
        }
        conn.send(message);
        auto answer = conn.receive();
        if (!answer) {
            throw Error(Exit::Unavailable, conn.where() +
                                               " closed the connection without answering the " +
                                               what + " of zone '" + zone + "'");
        }
        if (answer->size() < 12 || getU16(*answer, 0) != id || (answer->at(2) & 0x80) == 0) {
            throw Error(Exit::Unavailable,
                        conn.where() + " answered with a message that does not match the " + what);
        }
        if (!key_) {
            return std::move(*answer);
        }
        tsig::Verifier verifier(*key_, std::move(mac));
        return verified(verifier, *answer, conn, zone, what);
    }

    // The answer without its TSIG record, once its signature is good; throws for the rest.
    std::vector<std::uint8_t> verified(tsig::Verifier& verifier,
                                       const std::vector<std::uint8_t>& answer,
                                       const Connection& conn, const std::string& zone,
                                       const std::string& what, bool unsignedOk = false,
                                       bool* wasSigned = nullptr) {
        const auto c = verifier.verify(answer, now());
        if (wasSigned != nullptr) {
            *wasSigned = c.status == tsig::Check::Status::Ok;
        }
        using S = tsig::Check::Status;
        if (c.status == S::Rejected || (c.status == S::Ok && c.error != 0)) {
            std::string hint;
            if (c.error == tsig::badSig) {
                hint = ": the secret differs from the server's";
            } else if (c.error == tsig::badKey) {
                hint = ": the server has no key of this name and algorithm";
            } else if (c.error == tsig::badTime) {
                hint = ": this host's clock and the server's differ by more than " +
                       std::to_string(tsig::defaultFudge) + " s";
            }
            throw Error(Exit::NoPerm, conn.where() + " rejected the " + what + " of zone '" + zone +
                                          "' signed with " + keyText() + " (" +
                                          tsig::errorName(c.error) + hint + ")");
        }
        if (c.status == S::Unsigned && unsignedOk) {
            return answer;
        }
        if (c.status != S::Ok) {
            const unsigned rcode = answer.size() >= 4 ? answer[3] & 0x0fU : 0;
            throw Error(Exit::Unavailable, "the answer of " + conn.where() + " (" +
                                               rcodeName(rcode) + ") to the " + what +
                                               " of zone '" + zone + "' is " +
                                               std::string(tsig::toString(c.status)) + " (" +
                                               keyText() + "), so it cannot be trusted");
        }
        return tsig::stripped(answer, c.tsigOffset);
    }

    void checkUpdate(const std::vector<std::uint8_t>& answer, const Connection& conn,
                     const std::string& zone, const std::string& progress, std::size_t n,
                     std::size_t of) {
        if (((answer[2] >> 3) & 0x0f) != 5) {
            throw Error(Exit::Unavailable,
                        conn.where() + " answered the UPDATE with another opcode");
        }
        const unsigned rcode = answer[3] & 0x0fU;
        if (rcode == 0) {
            return;
        }
        const std::string which =
            n == 0 ? "the UPDATE" : "UPDATE " + std::to_string(n) + " of " + std::to_string(of);
        const std::string at = " at " + conn.where();
        switch (rcode) {
        case rcodeYxrrset:
        case rcodeNxrrset:
        case rcodeYxdomain:
        case rcodeNxdomain:
            throw RaceLost(which + " of zone '" + zone + "'" + at + " failed a prerequisite (" +
                           rcodeName(rcode) + ": an RRset is no longer as read)" + progress);
        case rcodeRefused:
            if (!key_) {
                throw Error(
                    Exit::NoPerm,
                    conn.where() + " refused " +
                        (n == 0 ? std::string("the unsigned UPDATE") : "unsigned " + which) +
                        " of zone '" + zone +
                        "' (REFUSED): set 'keyfile' (or 'key' and 'tsig_secret') in " +
                        settings_.section + progress);
            }
            throw Error(
                Exit::NoPerm,
                conn.where() + " refused " + which + " of zone '" + zone + "' (REFUSED) with " +
                    keyText() +
                    ": the key may not make this change, the server does not serve the zone, or it "
                    "refused the data (BIND: an MX or SRV target in the zone without an address); "
                    "the server's log says which" +
                    progress);
        case rcodeNotauth:
            throw Error(Exit::NoPerm, conn.where() + " refused " + which + " of zone '" + zone +
                                          "' (NOTAUTH) with " + keyText() +
                                          ": the server is not authoritative for the zone" +
                                          progress);
        case rcodeNotzone:
            throw Error(Exit::DataErr, conn.where() + " rejected " + which + " of zone '" + zone +
                                           "' (NOTZONE): a name is outside the zone" + progress);
        case rcodeFormerr:
        case rcodeNotimp:
            throw Error(Exit::Unavailable, conn.where() + " could not process " + which +
                                               " of zone '" + zone + "' (" + rcodeName(rcode) +
                                               ")" + progress);
        default:
            throw Error(Exit::Unavailable, conn.where() + " failed " + which + " of zone '" + zone +
                                               "' (" + rcodeName(rcode) + ")" + progress);
        }
    }

    // Read the zone by AXFR; nullopt when the server refuses the transfer.
    std::optional<ZoneContents> transfer(Connection& conn, const std::string& zone,
                                         const std::vector<RRsetKey>& wanted) {
        auto request = rfc2136::buildQuery(nextId(), zone, rfc2136::typeAxfr);
        const std::uint16_t id = getU16(request, 0);
        std::optional<tsig::Verifier> verifier;
        if (key_) {
            verifier.emplace(*key_, tsig::sign(*key_, request, now()));
        }
        conn.send(request);
        ZoneContents z;
        z.complete = true;
        unsigned soas = 0;
        std::size_t messages = 0, skipped = 0;
        bool lastSigned = false;
        std::set<RRsetKey> unreadable;
        std::vector<std::string> unreadableText;
        while (soas < 2) {
            auto raw = conn.receive();
            if (!raw) {
                if (messages == 0) {
                    log::info("AXFR of zone '" + zone + "' at " + conn.where() +
                              ": the server closed the connection; reading the RRsets by queries");
                    return std::nullopt;
                }
                throw Error(Exit::Unavailable,
                            conn.where() +
                                " closed the connection in the middle of the AXFR of zone '" +
                                zone + "'");
            }
            if (raw->size() < 12 || getU16(*raw, 0) != id) {
                throw Error(Exit::Unavailable,
                            conn.where() +
                                " sent a message that does not belong to the AXFR of zone '" +
                                zone + "'");
            }
            const unsigned rcode = (*raw)[3] & 0x0fU;
            const auto message =
                verifier ? verified(*verifier, *raw, conn, zone, "AXFR", messages > 0, &lastSigned)
                         : *raw;
            ++messages;
            if (rcode != 0) {
                if (messages == 1 && (rcode == rcodeRefused || rcode == rcodeNotimp ||
                                      rcode == rcodeFormerr || rcode == rcodeNotauth)) {
                    log::info("AXFR of zone '" + zone + "' refused by " + conn.where() + " (" +
                              rcodeName(rcode) + "); reading " + std::to_string(wanted.size()) +
                              " RRsets by queries");
                    return std::nullopt;
                }
                throw Error(rcode == rcodeNotauth ? Exit::NoPerm : Exit::Unavailable,
                            "AXFR of zone '" + zone + "' from " + conn.where() + " failed (" +
                                rcodeName(rcode) + ")");
            }
            auto a = rfc2136::parseAnswer(message);
            skipped += a.skipped;
            for (auto& line : a.unreadable) {
                unreadableText.push_back(line);
            }
            for (auto& r : a.records) {
                const bool soa = r.type == record::Type::SOA && name::equal(r.name, zone);
                if (soas == 0 && !soa) {
                    throw Error(Exit::Unavailable, "the AXFR of zone '" + zone + "' from " +
                                                       conn.where() +
                                                       " does not start with its SOA record");
                }
                if (soa) {
                    if (++soas == 2) {
                        break; // the closing SOA
                    }
                    setSoa(z, r);
                }
                z.records.push_back(std::move(r));
            }
        }
        if (verifier && !lastSigned) {
            throw Error(Exit::Unavailable, "the last message of the AXFR of zone '" + zone +
                                               "' from " + conn.where() + " is not signed (" +
                                               keyText() + "), so it cannot be trusted");
        }
        for (const auto& line : unreadableText) {
            // Only an RRset the plan reads matters; a record elsewhere is left alone.
            try {
                std::istringstream words(line);
                std::string owner, ttl, cls, type;
                words >> owner >> ttl >> cls >> type;
                const RRsetKey key{name::normalize(owner), record::typeFromString(type).value()};
                if (std::find(wanted.begin(), wanted.end(), key) != wanted.end()) {
                    unreadable.insert(key);
                }
            } catch (...) {
            }
            log::debug("rfc2136: AXFR of zone '" + zone + "': cannot read '" + line +
                       "', left alone");
        }
        if (!unreadable.empty()) {
            throw Error(Exit::DataErr,
                        "the zone '" + zone + "' holds a record cdm cannot read in RRset " +
                            describeKey(*unreadable.begin()) + "; change it by hand first");
        }
        log::debug("rfc2136: AXFR of zone '" + zone + "' from " + conn.where() + ": " +
                   std::to_string(z.records.size()) + " records in " + std::to_string(messages) +
                   " messages, " + std::to_string(skipped) +
                   " of other types (DNSSEC ...) left out");
        return z;
    }

    static std::string describeKey(const RRsetKey& k) {
        return "'" + k.name + "' " + std::string(record::toString(k.type));
    }

    static void setSoa(ZoneContents& z, const record::Record& soa) {
        std::istringstream fields(soa.data);
        std::string mname, rname;
        std::uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
        fields >> mname >> rname >> serial >> refresh >> retry >> expire >> minimum;
        z.serial = serial;
        z.negativeTtl = minimum;
    }

    // Read the wanted RRsets (and the SOA) by queries, pipelined on one connection.
    ZoneContents queries(Connection& conn, const std::string& zone,
                         const std::vector<RRsetKey>& wanted) {
        ZoneContents z;
        z.complete = false;
        std::vector<RRsetKey> asks;
        asks.push_back({zone, record::Type::SOA});
        for (const auto& k : wanted) {
            if (!(k.type == record::Type::SOA && name::equal(k.name, zone))) {
                asks.push_back({name::normalize(k.name), k.type});
            }
        }
        struct Pending {
            std::size_t index;
            std::optional<tsig::Verifier> verifier;
        };
        std::map<std::uint16_t, Pending> pending;
        std::vector<std::vector<record::Record>> results(asks.size());
        constexpr std::size_t window = 64;
        std::size_t sent = 0, received = 0;
        while (received < asks.size()) {
            while (sent < asks.size() && pending.size() < window) {
                std::uint16_t id = nextId();
                while (pending.count(id) != 0) {
                    id = nextId();
                }
                auto q = rfc2136::buildQuery(id, asks[sent].name,
                                             static_cast<std::uint16_t>(asks[sent].type));
                Pending p{sent, std::nullopt};
                if (key_) {
                    p.verifier.emplace(*key_, tsig::sign(*key_, q, now()));
                }
                pending.emplace(id, std::move(p));
                conn.queue(q);
                ++sent;
            }
            conn.flush();
            auto raw = conn.receive();
            if (!raw) {
                throw Error(Exit::Unavailable,
                            conn.where() +
                                " closed the connection while answering queries for zone '" + zone +
                                "'");
            }
            const auto it = raw->size() >= 12 ? pending.find(getU16(*raw, 0)) : pending.end();
            if (it == pending.end()) {
                throw Error(Exit::Unavailable,
                            conn.where() + " sent an answer to no question asked");
            }
            const RRsetKey& ask = asks[it->second.index];
            const std::string what = "query for " + describeKey(ask);
            const auto message =
                it->second.verifier ? verified(*it->second.verifier, *raw, conn, zone, what) : *raw;
            const auto a = rfc2136::parseAnswer(message);
            if (a.rcode == rcodeRefused || a.rcode == rcodeNotauth) {
                throw Error(Exit::NoPerm, conn.where() + " refused the " + what + " in zone '" +
                                              zone + "' (" + rcodeName(a.rcode) + ") with " +
                                              keyText());
            }
            if (a.rcode != 0 && a.rcode != rcodeNxdomain) {
                throw Error(Exit::Unavailable, conn.where() + " failed the " + what + " in zone '" +
                                                   zone + "' (" + rcodeName(a.rcode) + ")");
            }
            for (const auto& r : a.records) {
                if (r.type == ask.type && name::equal(r.name, ask.name)) {
                    results[it->second.index].push_back(r);
                }
            }
            if (!a.unreadable.empty()) {
                throw Error(Exit::DataErr,
                            "the zone '" + zone + "' holds a record cdm cannot read in RRset " +
                                describeKey(ask) + ": '" + a.unreadable.front() + "'");
            }
            pending.erase(it);
            ++received;
        }
        for (std::size_t i = 0; i < asks.size(); ++i) {
            for (auto& r : results[i]) {
                if (i == 0) {
                    setSoa(z, r);
                }
                z.records.push_back(std::move(r));
            }
        }
        log::debug("rfc2136: read " + std::to_string(asks.size()) + " RRsets of zone '" + zone +
                   "' by queries at " + conn.where() + ": " + std::to_string(z.records.size()) +
                   " records");
        return z;
    }

    // The serial and minimum of the zone's SOA at the primary, asked on `conn`.
    std::pair<std::uint32_t, std::uint32_t> soaOf(Connection& conn, const std::string& zone) {
        auto q = rfc2136::buildQuery(0, zone, typeSoa());
        const auto answer = rfc2136::parseAnswer(exchange(conn, q, zone, "SOA query"));
        for (const auto& r : answer.records) {
            if (r.type == record::Type::SOA) {
                ZoneContents z;
                setSoa(z, r);
                return {z.serial, z.negativeTtl};
            }
        }
        throw Error(Exit::Unavailable, conn.where() + " answered no SOA record for zone '" + zone +
                                           "' (" + rcodeName(answer.rcode) + ")");
    }

    static std::uint16_t typeSoa() { return static_cast<std::uint16_t>(record::Type::SOA); }

    std::uint16_t nextId() { return static_cast<std::uint16_t>(id_++ & 0xffff); }

    Settings settings_;
    std::optional<std::string> server_;
    std::uint16_t port_ = 53;
    std::chrono::milliseconds timeout_{10000};
    bool axfr_ = true;
    std::optional<tsig::Key> key_;
    std::map<std::string, std::vector<std::string>> primaries_;
    std::uint32_t id_ = std::random_device{}();
};

} // namespace

std::unique_ptr<Provider> makeRfc2136(const Settings& settings) {
    return std::make_unique<Rfc2136>(settings);
}

} // namespace cdm::provider
