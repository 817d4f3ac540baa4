#include "libcommon/challenge.hpp"

#include <cerrno>
#include <cstring>
#include <exception>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

#include "libcommon/document.hpp"
#include "libcommon/error.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"
#include "libcommon/record.hpp"

namespace cdm::challenge {

namespace {

constexpr const char* label = "ACME";

std::string joinNames(const std::vector<acme::Challenge>& challenges, bool http) {
    std::set<std::string> names;
    for (const auto& c : challenges) {
        names.insert(http ? c.domain : c.dnsName());
    }
    std::string out;
    for (const auto& n : names) {
        out += (out.empty() ? "" : ", ") + n;
    }
    return out;
}

void requireType(const std::vector<acme::Challenge>& challenges, acme::ChallengeType want,
                 std::string_view solver) {
    for (const auto& c : challenges) {
        if (c.type != want) {
            throw Error(Exit::Software, std::string(solver) + " was given a challenge of another type for '" +
                                            c.domain + "'");
        }
    }
}

// The request dnsapply::run gets for `doc`.
dnsapply::Request requestFor(const DnsOptions& options, const boost::json::object& doc, bool verify) {
    dnsapply::Request r = options.base;
    r.input = document::serialize(doc);
    r.sourceName = "<acme challenges>";
    r.dryRun = false;
    r.verify = verify;
    return r;
}

std::vector<std::string> splitLines(const std::string& text) {
    std::vector<std::string> lines;
    std::string::size_type start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) {
            end = text.size();
        }
        if (end > start) {
            lines.push_back(text.substr(start, end - start));
        }
        start = end + 1;
    }
    return lines;
}

bool isDirectory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

} // namespace

boost::json::object dnsDocument(const std::vector<acme::Challenge>& challenges, const DnsOptions& options,
                                bool add) {
    requireType(challenges, acme::ChallengeType::Dns01, "the dns-01 solver");
    boost::json::object doc = document::empty();
    if (!options.config.empty()) {
        doc["config"] = options.config;
    }
    std::vector<boost::json::object> records;
    std::set<std::pair<std::string, std::string>> seen; // one record per name and value
    for (const auto& c : challenges) {
        document::DesiredRecord r;
        r.name = c.dnsName();
        r.type = record::Type::TXT;
        r.ttl = options.ttl;
        const std::string value = c.dnsValue();
        if (!seen.emplace(r.name, value).second) {
            continue;
        }
        r.data = record::canonical(record::Type::TXT, record::txtFromText(value));
        r.op = add ? document::Op::Add : document::Op::Remove;
        r.scope.name = r.name;
        r.scope.type = record::Type::TXT;
        r.label = label;
        if (auto it = options.sectionOf.find(c.domain); it != options.sectionOf.end()) {
            r.section = it->second;
        }
        records.push_back(document::toJson(r));
    }
    document::appendRecords(doc, std::move(records));
    return doc;
}

bool safeToken(std::string_view token) {
    if (token.empty()) {
        return false;
    }
    for (const char ch : token) {
        const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                        ch == '-' || ch == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// ------------------------------------------------------------------------------- dns-01

DnsSolver::DnsSolver(DnsOptions options) : options_(std::move(options)) {}

boost::json::object DnsSolver::document(const std::vector<acme::Challenge>& challenges, bool add) const {
    return dnsDocument(challenges, options_, add);
}

void DnsSolver::removeLeftovers() const {
    if (options_.journal.empty() || ::access(options_.journal.c_str(), F_OK) != 0) {
        return;
    }
    try {
        auto doc = document::parse(fsutil::readFile(options_.journal, 1U << 20U), options_.journal);
        if (!options_.config.empty()) {
            doc["config"] = options_.config;
        }
        log::info("dns-01: removing the challenge records an interrupted run left, noted in '" +
                  options_.journal + "'");
        auto result = dnsapply::run(requestFor(options_, doc, false));
        if (result.failure) {
            log::warn("dns-01: could not remove the challenge records noted in '" +
                      options_.journal + "': " + result.failure->message() +
                      ", trying again later");
            return;
        }
        ::unlink(options_.journal.c_str());
    } catch (const Error& e) {
        log::warn("dns-01: could not remove the challenge records noted in '" + options_.journal +
                  "': " + e.message() + ", trying again later");
    }
}

void DnsSolver::publish(const std::vector<acme::Challenge>& challenges) {
    if (challenges.empty()) {
        return;
    }
    removeLeftovers();
    const auto doc = document(challenges, true);
    if (!options_.journal.empty()) {
        // Noted before the first record is sent, so that a crash cannot leave one unnoted.
        // The records only: the configuration is added again from options_ when they are
        // removed (a copy of it would make the note as large as the configuration).
        auto note = document(challenges, false);
        note.erase("config");
        fsutil::writeFileAtomic(options_.journal, document::serialize(note), 0600);
    }
    log::info("dns-01: publishing " + std::to_string(challenges.size()) + " TXT record(s) at " +
              joinNames(challenges, false) + " and waiting until every name server serves them");
    auto result = dnsapply::run(requestFor(options_, doc, true));
    for (const auto& line : splitLines(dnsapply::toText(result))) {
        log::debug("dns-01: " + line);
    }
    if (result.failure) {
        throw *result.failure;
    }
}

void DnsSolver::remove(const std::vector<acme::Challenge>& challenges) noexcept {
    if (challenges.empty()) {
        return;
    }
    try {
        const auto doc = document(challenges, false);
        log::info("dns-01: removing the TXT record(s) at " + joinNames(challenges, false));
        auto result = dnsapply::run(requestFor(options_, doc, false));
        if (result.failure) {
            log::warn("dns-01: could not remove every challenge record: " + result.failure->message());
        } else if (!options_.journal.empty()) {
            ::unlink(options_.journal.c_str());
        }
    } catch (const Error& e) {
        const std::string where = e.where().toString();
        log::warn("dns-01: could not remove the challenge records: " + (where.empty() ? "" : where + ": ") +
                  e.message());
    } catch (const std::exception& e) {
        log::warn(std::string("dns-01: could not remove the challenge records: ") + e.what());
    } catch (...) {
        log::warn("dns-01: could not remove the challenge records");
    }
}

// ------------------------------------------------------------------------------ http-01

HttpSolver::HttpSolver(std::string webroot) : webroot_(std::move(webroot)) {
    if (webroot_.empty()) {
        throw Error(Exit::Config, "the http-01 challenge needs a webroot");
    }
    while (webroot_.size() > 1 && webroot_.back() == '/') {
        webroot_.pop_back();
    }
}

void HttpSolver::publish(const std::vector<acme::Challenge>& challenges) {
    requireType(challenges, acme::ChallengeType::Http01, "the http-01 solver");
    if (challenges.empty()) {
        return;
    }
    for (const auto& c : challenges) {
        if (!safeToken(c.token)) {
            throw Error(Exit::DataErr, "the CA sent a challenge token for '" + c.domain +
                                           "' that is not base64url: '" + c.token + "'");
        }
    }
    if (!isDirectory(webroot_)) {
        throw Error(Exit::CantCreat, "webroot '" + webroot_ + "' is not a directory");
    }
    // .well-known and acme-challenge: made here when missing (0755: the web server reads
    // them as another user), remembered so that remove() takes away only what it made.
    std::string dir = webroot_;
    for (const char* part : {".well-known", "acme-challenge"}) {
        dir += std::string("/") + part;
        if (::mkdir(dir.c_str(), 0755) == 0) {
            createdDirs_.push_back(dir);
            if (::chmod(dir.c_str(), 0755) != 0) {
                const int err = errno;
                throw Error(err == EACCES || err == EPERM ? Exit::NoPerm : Exit::CantCreat,
                            "cannot set the mode of '" + dir + "': " + std::strerror(err));
            }
        } else if (errno != EEXIST || !isDirectory(dir)) {
            const int err = errno;
            throw Error(err == EACCES || err == EPERM ? Exit::NoPerm : Exit::CantCreat,
                        "cannot create '" + dir + "': " + std::strerror(err));
        }
    }
    for (const auto& c : challenges) {
        const std::string file = dir + "/" + c.token;
        fsutil::writeFileAtomic(file, c.keyAuthorization, 0644);
        written_.push_back(file);
        log::info("http-01: wrote " + file + " for " + c.domain);
    }
}

void HttpSolver::remove(const std::vector<acme::Challenge>& challenges) noexcept {
    try {
        std::set<std::string> tokens;
        for (const auto& c : challenges) {
            tokens.insert(c.token);
        }
        std::vector<std::string> kept;
        for (const auto& file : written_) {
            const std::string token = file.substr(file.rfind('/') + 1);
            if (!tokens.contains(token)) {
                kept.push_back(file);
                continue;
            }
            if (::unlink(file.c_str()) != 0 && errno != ENOENT) {
                log::warn("http-01: could not remove " + file + ": " + std::strerror(errno));
            }
        }
        written_ = std::move(kept);
        if (!written_.empty()) {
            return; // the directories still hold files of this solver
        }
        // Innermost first; a directory someone else has put a file into stays.
        for (auto it = createdDirs_.rbegin(); it != createdDirs_.rend(); ++it) {
            if (::rmdir(it->c_str()) != 0 && errno != ENOENT) {
                log::debug("http-01: left " + *it + ": " + std::strerror(errno));
            }
        }
        createdDirs_.clear();
    } catch (...) {
        log::warn("http-01: could not remove the challenge files");
    }
}

} // namespace cdm::challenge
