#include "libcommon/ini.hpp"

#include <algorithm>
#include <array>
#include <iostream>
#include <sys/stat.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "libcommon/log.hpp"

namespace cdm::ini {

namespace {

constexpr int maxInterpolationDepth = 10; // configparser's MAX_INTERPOLATION_DEPTH

std::string_view strip(std::string_view s) {
    const auto isSpace = [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
    };
    while (!s.empty() && isSpace(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && isSpace(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// An entry being read: its lines are joined once the entry is complete.
struct PendingValue {
    Entry* entry = nullptr;
    std::vector<std::string> lines;
    unsigned indent = 0;
};

void finish(PendingValue& pending) {
    if (pending.entry == nullptr) {
        return;
    }
    std::string joined;
    for (std::size_t i = 0; i < pending.lines.size(); ++i) {
        if (i != 0) {
            joined += '\n';
        }
        joined += pending.lines[i];
    }
    pending.entry->value = std::string(strip(joined)); // configparser rstrips; lines are stripped
    pending = PendingValue{};
}

} // namespace

const Entry* Section::find(std::string_view key) const {
    for (const auto& e : entries) {
        if (e.key == key) {
            return &e;
        }
    }
    return nullptr;
}

const Section* Ini::find(std::string_view name) const {
    if (name == "DEFAULT") {
        return &defaults_;
    }
    for (const auto& s : sections_) {
        if (s.name == name) {
            return &s;
        }
    }
    return nullptr;
}

Section& Ini::sectionFor(const std::string& name, const Location& where) {
    if (name == "DEFAULT") {
        return defaults_;
    }
    for (auto& s : sections_) {
        if (s.name == name) {
            return s;
        }
    }
    sections_.push_back(Section{name, where, {}});
    return sections_.back();
}

void Ini::readString(std::string_view text, const std::string& sourceName) {
    if (text.size() > maxSourceBytes) {
        throw Error(Exit::DataErr,
                    "larger than " + std::to_string(maxSourceBytes / (1024 * 1024)) +
                        " MiB, not a configuration file",
                    Location{sourceName, 0, {}});
    }
    if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
        const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(nul), '\n');
        throw Error(Exit::DataErr, "binary data (a NUL byte), not a configuration file",
                    Location{sourceName, static_cast<unsigned>(line), {}});
    }
    // Everything is parsed into a scratch copy first, so that an error leaves this Ini as it was.
    Ini scratch = *this;
    scratch.sources_.push_back(sourceName);
    std::set<std::string> sectionsSeen;                 // strict mode, per source
    std::set<std::pair<std::string, std::string>> keysSeen;
    Section* current = nullptr;
    std::string currentName;
    PendingValue pending;
    unsigned indentLevel = 0;

    std::size_t pos = 0;
    unsigned lineno = 0;
    while (pos <= text.size()) {
        const auto end = text.find('\n', pos);
        std::string_view line = text.substr(pos, end == std::string_view::npos ? text.npos : end - pos);
        pos = end == std::string_view::npos ? text.size() + 1 : end + 1;
        ++lineno;
        const Location where{sourceName, lineno, {}};

        const std::string_view stripped = strip(line);
        const bool comment = !stripped.empty() && (stripped.front() == '#' || stripped.front() == ';');
        if (stripped.empty() || comment) {
            // An empty line belongs to a value being read; a comment line is skipped entirely.
            if (!comment && pending.entry != nullptr) {
                pending.lines.emplace_back();
            }
            continue;
        }
        unsigned indent = 0;
        while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t')) {
            ++indent;
        }
        if (current != nullptr && pending.entry != nullptr && indent > indentLevel) {
            pending.lines.emplace_back(stripped);
            continue;
        }
        finish(pending);
        indentLevel = indent;

        if (stripped.front() == '[') {
            const auto close = stripped.rfind(']');
            if (close == std::string_view::npos || close < 2) {
                throw Error(Exit::Config, "malformed section header " + quoted(stripped), where);
            }
            const std::string name(stripped.substr(1, close - 1));
            if (name != "DEFAULT" && !sectionsSeen.insert(name).second) {
                throw Error(Exit::Config, "section " + quoted(name) + " appears twice in this file",
                            where);
            }
            current = &scratch.sectionFor(name, where);
            currentName = name;
            continue;
        }
        if (current == nullptr) {
            throw Error(Exit::Config,
                        "a key before the first [section] header: " + quoted(stripped), where);
        }
        const auto delim = stripped.find_first_of("=:");
        if (delim == std::string_view::npos) {
            throw Error(Exit::Config, "expected 'key = value', found " + quoted(stripped), where);
        }
        const std::string key = lower(strip(stripped.substr(0, delim)));
        if (key.empty()) {
            throw Error(Exit::Config, "a value without a key: " + quoted(stripped), where);
        }
        const std::string value(strip(stripped.substr(delim + 1)));

        Entry* entry = nullptr;
        for (auto& e : current->entries) {
            if (e.key == key) {
                entry = &e;
            }
        }
        if (!keysSeen.insert({currentName, key}).second && entry != nullptr) {
            // Repeated in this very source: configparser's strict mode made this fatal.
            // An identical repeat is harmless, so only a conflicting one is an error.
            if (entry->value != value) {
                throw Error(Exit::Config,
                            "key " + quoted(key) + " of [" + currentName + "] is set again here (first at line " +
                                std::to_string(entry->where.line) + ") to another value",
                            where);
            }
            log::warn(where.toString() + ": key '" + key + "' of [" + currentName +
                      "] repeated with the same value, ignoring");
        }
        if (entry == nullptr) {
            current->entries.push_back(Entry{key, {}, where});
            entry = &current->entries.back();
        }
        entry->where = where;
        pending.entry = entry;
        pending.lines = {value};
    }
    finish(pending);
    *this = std::move(scratch);
}

void Ini::readFile(const std::string& path) {
    if (path == "-") {
        std::string text;
        std::array<char, 65536> buffer{};
        while (std::cin) {
            std::cin.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            text.append(buffer.data(), static_cast<std::size_t>(std::cin.gcount()));
            if (text.size() > maxSourceBytes) {
                break; // readString() reports it
            }
        }
        if (std::cin.bad()) {
            throw Error(Exit::IoErr, "unable to read standard input", Location{"<stdin>", 0, {}});
        }
        readString(text, "<stdin>");
        return;
    }
    struct stat info {};
    const bool statted = ::stat(path.c_str(), &info) == 0;
    if (statted && S_ISDIR(info.st_mode)) {
        throw Error(Exit::NoInput, "is a directory, not a configuration file", Location{path, 0, {}});
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Error(Exit::NoInput, std::string("unable to open: ") + std::strerror(errno),
                    Location{path, 0, {}});
    }
    std::string text;
    text.resize(maxSourceBytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    if (in.bad()) {
        throw Error(Exit::IoErr, std::string("unable to read: ") + std::strerror(errno),
                    Location{path, 0, {}});
    }
    text.resize(static_cast<std::size_t>(in.gcount()));
    readString(text, path);
    // Other local users could read the secret in it: say so (the key, never the value), and
    // go on, as ssh does not for a private key but a cron job that stops would be worse.
    if (statted && (info.st_mode & (S_IRGRP | S_IROTH)) != 0) {
        std::string keys;
        for (const Entry* e : secretsFrom(path)) {
            keys += (keys.empty() ? "'" : ", '") + e->key + "' (line " +
                    std::to_string(e->where.line) + ")";
        }
        if (!keys.empty()) {
            std::array<char, 8> mode{};
            std::snprintf(mode.data(), mode.size(), "%04o", static_cast<unsigned>(info.st_mode & 07777));
            log::warn(path + ": readable by group or others (mode " + mode.data() +
                      ") but holds the secret " + keys + "; run chmod go-r on it");
        }
    }
}

std::vector<const Entry*> Ini::secretsFrom(const std::string& source) const {
    std::vector<const Entry*> out;
    const auto scan = [&](const Section& section) {
        for (const auto& e : section.entries) {
            if (e.where.file == source && log::isSecretKey(e.key) && !strip(e.value).empty()) {
                out.push_back(&e);
            }
        }
    };
    scan(defaults_);
    for (const auto& section : sections_) {
        scan(section);
    }
    return out;
}

std::string Ini::interpolate(const Section& section, const Entry& entry, bool* usedSecret) const {
    std::string out;
    std::vector<std::string> chain{entry.key};

    // configparser looks keys up in the section first, then in [DEFAULT].
    const auto lookup = [&](const std::string& key) -> const Entry* {
        if (const Entry* e = section.find(key)) {
            return e;
        }
        return defaults_.find(key);
    };

    std::function<void(const Entry&, int)> expand = [&](const Entry& e, int depth) {
        if (depth > maxInterpolationDepth) {
            throw Error(Exit::Config, "interpolation of " + quoted(entry.key) +
                                          " goes deeper than 10 levels (a loop?)",
                        entry.where);
        }
        std::string_view rest = e.value;
        while (!rest.empty()) {
            const auto p = rest.find('%');
            if (p == std::string_view::npos) {
                out += rest;
                return;
            }
            out += rest.substr(0, p);
            rest.remove_prefix(p);
            if (rest.size() >= 2 && rest[1] == '%') {
                out += '%';
                rest.remove_prefix(2);
                continue;
            }
            if (rest.size() >= 2 && rest[1] == '(') {
                const auto close = rest.find(")s");
                const auto name = rest.substr(2, close == std::string_view::npos ? 0 : close - 2);
                if (close != std::string_view::npos && !name.empty() &&
                    name.find(')') == std::string_view::npos) {
                    const std::string ref = lower(name);
                    const Entry* target = lookup(ref);
                    if (target == nullptr) {
                        throw Error(Exit::Config,
                                    "value of " + quoted(entry.key) + " refers to %(" + ref +
                                        ")s, but [" + section.name + "] has no key " + quoted(ref),
                                    entry.where);
                    }
                    if (usedSecret != nullptr && log::isSecretKey(ref)) {
                        *usedSecret = true;
                    }
                    expand(*target, depth + 1);
                    rest.remove_prefix(close + 2);
                    continue;
                }
            }
            // configparser raised InterpolationSyntaxError here; a password may well hold a
            // '%', so keep it as written.
            if (warned_.insert(entry.where.toString()).second) {
                log::warn(entry.where.toString() + ": '%' in the value of '" + entry.key +
                          "' taken literally (write '%%' for a literal '%')");
            }
            out += '%';
            rest.remove_prefix(1);
        }
    };
    expand(entry, 1);
    return out;
}

std::string expandConfigContent(std::string_view content) {
    std::string out;
    out.reserve(content.size());
    std::size_t i = 0;
    while (i < content.size()) {
        if (content[i] == ' ') {
            std::size_t j = i;
            while (j < content.size() && content[j] == ' ') {
                ++j;
            }
            if (j - i >= 2) {
                out += '\n';
            } else {
                out += ' ';
            }
            i = j;
            continue;
        }
        out += content[i++];
    }
    return out;
}

} // namespace cdm::ini
