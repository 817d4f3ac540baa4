#include "libcommon/tlsacheck.hpp"

#include <algorithm>
#include <set>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/ossl.hpp"
#include "libcommon/tlsa.hpp"

namespace cdm::tlsacheck {

namespace json = boost::json;

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Verify `chain` (leaf first) up to a trusted certificate: `anchor` alone (DANE-TA, partial
// chains allowed) or the PKIX store of `caFile` / the system. With `host`, the leaf must
// carry that name. Returns "" or OpenSSL's reason.
std::string verifyChain(const std::vector<x509::Certificate>& chain, const x509::Certificate* anchor,
                        const std::string& caFile, const std::string& host) {
    ossl::X509Store store(X509_STORE_new());
    std::vector<ossl::X509Ptr> owned;
    if (anchor != nullptr) {
        owned.push_back(x509::toX509(*anchor));
        X509_STORE_add_cert(store.get(), owned.back().get());
        X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
    } else if (!caFile.empty()) {
        if (X509_STORE_load_file(store.get(), caFile.c_str()) != 1) {
            ERR_clear_error();
            return "unable to read the CA file '" + caFile + "'";
        }
    } else {
        X509_STORE_set_default_paths(store.get());
    }
    ossl::X509Stack untrusted(sk_X509_new_null());
    for (std::size_t i = 1; i < chain.size(); ++i) {
        owned.push_back(x509::toX509(chain[i]));
        sk_X509_push(untrusted.get(), owned.back().get());
    }
    auto leaf = x509::toX509(chain.front());
    ossl::X509StoreCtx ctx(X509_STORE_CTX_new());
    X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted.get());
    if (!host.empty()) {
        X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), host.c_str(), host.size());
    }
    const int ok = X509_verify_cert(ctx.get());
    const std::string reason = ok == 1 ? "" : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return reason;
}

std::string keyDescription(const std::vector<std::uint8_t>& spki) {
    try {
        switch (keys::algorithmOf(spki)) {
        case keys::Algorithm::Rsa:
            return "RSA " + std::to_string(keys::bitsOf(spki));
        case keys::Algorithm::EcdsaP256:
            return "ECDSA P-256";
        case keys::Algorithm::EcdsaP384:
            return "ECDSA P-384";
        case keys::Algorithm::Ed25519:
            return "Ed25519";
        }
    } catch (const Error&) {
    }
    return "other";
}

} // namespace

RecordVerdict judge(const std::string& rdata, const std::vector<x509::Certificate>& chain,
                    const std::string& host, const std::string& caFile) {
    RecordVerdict v;
    v.rdata = rdata;
    std::vector<std::string> parts;
    {
        std::size_t pos = 0;
        while (parts.size() < 3) {
            const auto sp = rdata.find(' ', pos);
            parts.push_back(rdata.substr(pos, sp - pos));
            pos = sp + 1;
        }
        std::string data = rdata.substr(pos);
        data.erase(std::remove(data.begin(), data.end(), ' '), data.end());
        parts.push_back(lower(data));
    }
    const int usage = std::stoi(parts[0]);
    const int selector = std::stoi(parts[1]);
    const int matching = std::stoi(parts[2]);
    if (usage > 3 || selector > 1 || matching > 2) {
        v.reason = "unusable parameters (RFC 7671 §4: ignored)";
        return v;
    }
    const tlsa::Params params{static_cast<tlsa::Usage>(usage), static_cast<tlsa::Selector>(selector),
                              static_cast<tlsa::Matching>(matching)};
    const auto hashOf = [&](const x509::Certificate& cert) {
        tlsa::Source one{{cert}, {}, "server"};
        tlsa::Params leafParams = params;
        leafParams.usage = tlsa::Usage::DaneEe; // hash this very certificate
        try {
            return tlsa::associationData(one, leafParams);
        } catch (const Error&) {
            return std::string(); // e.g. a weak key: it matches nothing
        }
    };
    if (usage == 3 || usage == 1) {
        if (hashOf(chain.front()) != parts[3]) {
            v.reason = "the leaf does not match";
            return v;
        }
        if (usage == 1) {
            const std::string pkix = verifyChain(chain, nullptr, caFile, host);
            if (!pkix.empty()) {
                v.reason = "the leaf matches, but PKIX validation failed: " + pkix;
                return v;
            }
        }
        v.matches = true;
        v.reason = "the leaf matches";
        return v;
    }
    // Usage 2 and 0: a certificate the server sent (RFC 7671 §5.2: the TA must be in the chain
    // for selector 0; for a key given as SPKI it must be too, since cdm cannot add it).
    for (std::size_t i = 1; i < chain.size(); ++i) {
        if (hashOf(chain[i]) != parts[3]) {
            continue;
        }
        const std::string reason = usage == 2 ? verifyChain(chain, &chain[i], "", host)
                                              : verifyChain(chain, nullptr, caFile, host);
        if (!reason.empty()) {
            v.reason = "certificate " + std::to_string(i) + " of the chain matches, but " + reason;
            return v;
        }
        v.matches = true;
        v.reason = "certificate " + std::to_string(i) + " of the chain matches";
        return v;
    }
    v.reason = "no CA certificate the server sent matches";
    return v;
}

Report check(const Request& request) {
    Report report;
    report.owner = tlsa::ownerName(request.port, request.proto, request.host);
    const auto answer = resolve::query(request.dns, report.owner, record::Type::TLSA);
    report.security = answer.security;
    report.securityWhy = answer.why;
    for (const auto& r : answer.records) {
        report.records.push_back(r.data);
    }
    std::vector<std::string> addresses = request.addresses;
    if (addresses.empty()) {
        addresses = resolve::addresses(request.dns, request.host);
        if (addresses.empty()) {
            throw Error(Exit::Unavailable, "'" + request.host + "' has no A or AAAA record");
        }
    }
    const std::string host = request.host.back() == '.' ? request.host.substr(0, request.host.size() - 1) : request.host;
    for (const auto& address : addresses) {
        std::set<std::vector<std::uint8_t>> seenLeaves;
        // RSA and ECDSA separately; when neither works (an Ed25519-only server), any key.
        for (const auto family : {tlsclient::KeyFamily::Rsa, tlsclient::KeyFamily::Ecdsa, tlsclient::KeyFamily::Any}) {
            if (family == tlsclient::KeyFamily::Any && !seenLeaves.empty()) {
                break;
            }
            ProbeResult probe;
            probe.address = address;
            probe.family = family;
            try {
                const auto presented = tlsclient::connect(
                    {address, request.port, host, request.starttls, family, request.timeout});
                if (!seenLeaves.insert(presented.chain.front().der).second) {
                    continue; // the server has one certificate for both: report it once
                }
                for (const auto& c : presented.chain) {
                    probe.subjects.push_back(c.subject);
                }
                probe.keyAlgorithm = keyDescription(presented.chain.front().spki);
                for (const auto& rdata : report.records) {
                    probe.records.push_back(judge(rdata, presented.chain, host, request.caFile));
                    probe.ok = probe.ok || probe.records.back().matches;
                }
            } catch (const Error& e) {
                if (e.code() != Exit::Unavailable) {
                    throw;
                }
                // A server without a certificate of this family refuses the handshake; that is
                // only an error when the other family did not work either (checked below).
                probe.error = e.message();
            }
            report.probes.push_back(std::move(probe));
        }
    }
    // Drop failed probes of an address where the other family worked.
    std::set<std::string> working;
    for (const auto& p : report.probes) {
        if (p.error.empty()) {
            working.insert(p.address);
        }
    }
    report.probes.erase(std::remove_if(report.probes.begin(), report.probes.end(),
                                       [&](const ProbeResult& p) { return !p.error.empty() && working.count(p.address) != 0; }),
                        report.probes.end());
    report.ok = report.security == resolve::Security::Secure && !report.records.empty() &&
                !report.probes.empty() &&
                std::all_of(report.probes.begin(), report.probes.end(), [](const ProbeResult& p) { return p.ok; });
    return report;
}

bool unreachable(const Report& report) {
    return std::all_of(report.probes.begin(), report.probes.end(), [](const ProbeResult& p) { return !p.error.empty(); });
}

json::object toJson(const Report& report) {
    json::array records;
    for (const auto& r : report.records) {
        records.emplace_back(r);
    }
    json::array probes;
    for (const auto& p : report.probes) {
        json::object o{{"address", p.address}, {"family", tlsclient::toString(p.family)}, {"ok", p.ok}};
        if (!p.error.empty()) {
            o["error"] = p.error;
        } else {
            json::array subjects;
            for (const auto& s : p.subjects) {
                subjects.emplace_back(s);
            }
            o["chain"] = std::move(subjects);
            o["key"] = p.keyAlgorithm;
            json::array verdicts;
            for (const auto& v : p.records) {
                verdicts.push_back(json::object{{"record", v.rdata}, {"matches", v.matches}, {"reason", v.reason}});
            }
            o["records"] = std::move(verdicts);
        }
        probes.push_back(std::move(o));
    }
    json::object dns{{"owner", report.owner}, {"security", resolve::toString(report.security)}, {"records", records}};
    if (!report.securityWhy.empty()) {
        dns["why"] = report.securityWhy;
    }
    return json::object{{"ok", report.ok}, {"dns", std::move(dns)}, {"probes", std::move(probes)}};
}

std::string toTable(const Report& report) {
    std::string out = report.owner + " TLSA: " + std::to_string(report.records.size()) + " record(s), " +
                      std::string(resolve::toString(report.security)) +
                      (report.securityWhy.empty() ? "" : " (" + report.securityWhy + ")") + "\n";
    for (const auto& p : report.probes) {
        out += p.address + " " + std::string(tlsclient::toString(p.family)) + ": ";
        if (!p.error.empty()) {
            out += "error: " + p.error + "\n";
            continue;
        }
        out += p.keyAlgorithm + ", " + (p.subjects.empty() ? std::string("?") : p.subjects.front()) + "\n";
        for (const auto& v : p.records) {
            std::string shown = v.rdata.size() > 30 ? v.rdata.substr(0, 30) + "..." : v.rdata;
            out += "  " + std::string(v.matches ? "match    " : "no match ") + shown + "  " + v.reason + "\n";
        }
    }
    out += report.ok ? "OK\n" : "FAILED\n";
    return out;
}

} // namespace cdm::tlsacheck
