#include "libcommon/name.hpp"

#include <cstddef>
#include <cstdint>

#include "libcommon/error.hpp"

namespace cdm::name {

namespace {

// RFC 1035 §2.3.4: 63 octets a label, 255 octets a name on the wire (length octets and the
// root label included).
constexpr std::size_t maxLabel = 63;
constexpr std::size_t maxWire = 255;

// A name split into decoded labels (escapes resolved, lower-cased), leftmost first, without
// the root. Working on decoded octets makes "\065" and "a" the same label, as on the wire.
using Labels = std::vector<std::string>;

[[noreturn]] void fail(std::string_view text, const std::string& why) {
    throw Error(Exit::DataErr, "invalid name '" + std::string(text) + "': " + why);
}

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

std::string hexByte(unsigned char c) {
    static constexpr char digits[] = "0123456789abcdef";
    return std::string("0x") + digits[c >> 4] + digits[c & 0x0f];
}

struct Split {
    Labels labels;
    bool absolute = false;
};

// Splits presentation text into decoded, lower-cased labels. Checks each label's length but
// not the total, which depends on the origin.
Split split(std::string_view text) {
    if (text.empty()) {
        fail(text, "name is empty");
    }
    Split out;
    if (text == ".") {
        out.absolute = true;
        return out;
    }
    std::string label;
    bool endedWithDot = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        endedWithDot = false;
        if (c == '.') {
            if (label.empty()) {
                fail(text, "empty label");
            }
            out.labels.push_back(std::move(label));
            label.clear();
            endedWithDot = true;
            continue;
        }
        if (c == '\\') {
            if (i + 1 >= text.size()) {
                fail(text, "escape at end of name");
            }
            if (!isDigit(text[i + 1])) {
                // "\X": the octet X itself, whatever it is ("\." is a dot inside a label).
                label += lower(text[i + 1]);
                ++i;
            } else {
                // "\DDD": exactly three decimal digits, a value from 0 to 255.
                if (i + 3 >= text.size() || !isDigit(text[i + 2]) || !isDigit(text[i + 3])) {
                    fail(text, "bad escape '" + std::string(text.substr(i, 4)) +
                                   "', expected \\DDD with three digits");
                }
                const int value =
                    (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
                if (value > 255) {
                    fail(text, "escape '" + std::string(text.substr(i, 4)) + "' is over 255");
                }
                label += lower(static_cast<char>(value));
                i += 3;
            }
        } else {
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x21 || u > 0x7e) {
                fail(text, "character " + hexByte(u) + " is not printable ASCII; write it as '" +
                               decimalEscape(u) + "'");
            }
            label += lower(c);
        }
        if (label.size() > maxLabel) {
            fail(text, "label longer than 63 octets");
        }
    }
    if (endedWithDot) {
        out.absolute = true;
    } else {
        out.labels.push_back(std::move(label));
    }
    return out;
}

std::size_t wireLength(const Labels& labels) {
    std::size_t length = 1; // the root label
    for (const auto& label : labels) {
        length += 1 + label.size();
    }
    return length;
}

// The labels of `text` as normalize() reads it: "@" is the origin, relative names are taken
// relative to the origin (or the root), and the whole name must fit in 255 wire octets.
Labels decode(std::string_view text, std::string_view origin) {
    Labels labels;
    if (text == "@") {
        if (!origin.empty()) {
            labels = split(origin).labels;
        }
    } else {
        Split parts = split(text);
        labels = std::move(parts.labels);
        if (!parts.absolute && !origin.empty()) {
            // An origin without a trailing dot is still taken as absolute: there is nothing
            // further for it to be relative to.
            Labels tail = split(origin).labels;
            labels.insert(labels.end(), tail.begin(), tail.end());
        }
    }
    const std::size_t length = wireLength(labels);
    if (length > maxWire) {
        fail(text, "name is " + std::to_string(length) + " octets on the wire, more than 255");
    }
    return labels;
}

// Presentation of one decoded label. Besides "." and "\" (RFC 1035 §5.1), the characters that
// mean something in a zone file (quote, parentheses, semicolon) are escaped so the output
// can be pasted into one; other octets outside printable ASCII become \DDD.
std::string present(const std::string& label) {
    std::string out;
    out.reserve(label.size());
    for (const char c : label) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';') {
            out += '\\';
            out += c;
        } else if (u < 0x21 || u > 0x7e) {
            out += decimalEscape(u);
        } else {
            out += c;
        }
    }
    return out;
}

std::string present(const Labels& labels) {
    if (labels.empty()) {
        return ".";
    }
    std::string out;
    for (const auto& label : labels) {
        out += present(label);
        out += '.';
    }
    return out;
}

} // namespace

std::string normalize(std::string_view text, std::string_view origin) {
    return present(decode(text, origin));
}

bool isValid(std::string_view text) {
    try {
        decode(text, {});
        return true;
    } catch (const Error&) {
        return false;
    }
}

bool equal(std::string_view a, std::string_view b) {
    try {
        return decode(a, {}) == decode(b, {});
    } catch (const Error&) {
        // Not names: compare the text, ignoring case and one trailing dot, so that equal()
        // stays a plain predicate.
        auto trim = [](std::string_view s) {
            return (s.size() > 1 && s.back() == '.') ? s.substr(0, s.size() - 1) : s;
        };
        const std::string_view x = trim(a);
        const std::string_view y = trim(b);
        if (x.size() != y.size()) {
            return false;
        }
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (lower(x[i]) != lower(y[i])) {
                return false;
            }
        }
        return true;
    }
}

bool isSubdomain(std::string_view name, std::string_view ancestor) {
    const Labels child = decode(name, {});
    const Labels parent = decode(ancestor, {});
    if (parent.size() > child.size()) {
        return false;
    }
    const std::size_t offset = child.size() - parent.size();
    for (std::size_t i = 0; i < parent.size(); ++i) {
        if (child[offset + i] != parent[i]) {
            return false;
        }
    }
    return true;
}

bool matchesPattern(std::string_view name, std::string_view pattern) {
    const Labels subject = decode(name, {});
    const Labels shape = decode(pattern, {});
    if (subject.size() != shape.size()) {
        return false;
    }
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] != "*" && shape[i] != subject[i]) {
            return false;
        }
    }
    return true;
}

std::vector<std::string> labels(std::string_view name) {
    std::vector<std::string> out;
    for (const auto& label : decode(name, {})) {
        out.push_back(present(label));
    }
    return out;
}

std::string toWire(std::string_view name) {
    std::string out;
    for (const auto& label : decode(name, {})) {
        out += static_cast<char>(static_cast<std::uint8_t>(label.size()));
        out += label;
    }
    out += '\0';
    return out;
}

std::string decimalEscape(unsigned char c) {
    std::string out = "\\";
    out += static_cast<char>('0' + c / 100);
    out += static_cast<char>('0' + c / 10 % 10);
    out += static_cast<char>('0' + c % 10);
    return out;
}

} // namespace cdm::name
