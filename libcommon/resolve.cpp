#include "libcommon/resolve.hpp"

#include <arpa/inet.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdio>

#include "libcommon/error.hpp"
#include "libcommon/ldns_ptr.hpp"
#include "libcommon/name.hpp"

namespace cdm::resolve {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

bool isAddress(const std::string& text, int family) {
    unsigned char buf[16];
    return inet_pton(family, text.c_str(), buf) == 1;
}

ldnsp::Resolver makeResolver(const Options& options) {
    ldns_resolver* raw = nullptr;
    if (options.servers.empty()) {
        if (ldns_resolver_new_frm_file(&raw, nullptr) != LDNS_STATUS_OK) {
            throw Error(Exit::Unavailable, "unable to read the system's resolver configuration");
        }
    } else {
        raw = ldns_resolver_new();
        if (raw == nullptr) {
            throw Error(Exit::Software, "unable to create a resolver");
        }
    }
    ldnsp::Resolver res(raw);
    for (const auto& s : options.servers) {
        const bool v6 = isAddress(s.address, AF_INET6);
        ldnsp::Rdf addr(ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, s.address.c_str()));
        if (!addr || ldns_resolver_push_nameserver(res.get(), addr.get()) != LDNS_STATUS_OK) {
            throw Error(Exit::Usage, "resolver address " + quoted(s.address) + " is not an IP address");
        }
        if (s.port != options.servers.front().port) {
            throw Error(Exit::Usage, "every resolver must use the same port");
        }
    }
    if (!options.servers.empty()) {
        ldns_resolver_set_port(res.get(), options.servers.front().port);
    }
    ldns_resolver_set_dnssec(res.get(), true);
    ldns_resolver_set_recursive(res.get(), options.recursive);
    ldns_resolver_set_retry(res.get(), 2);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(options.timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((options.timeout.count() % 1000) * 1000);
    ldns_resolver_set_timeout(res.get(), tv);
    if (!options.trustAnchorFile.empty()) {
        // Keys are fetched with CD so that cdm, not the resolver, decides what is valid.
        ldns_resolver_set_dnssec_cd(res.get(), true);
        FILE* fp = std::fopen(options.trustAnchorFile.c_str(), "r");
        if (fp == nullptr) {
            throw Error(Exit::NoInput, "unable to open the trust anchor file", Location{options.trustAnchorFile, 0, {}});
        }
        std::size_t anchors = 0;
        std::uint32_t ttl = 0;
        ldns_rdf* origin = nullptr;
        ldns_rdf* prev = nullptr;
        int line = 0;
        while (std::feof(fp) == 0) {
            ldns_rr* rr = nullptr;
            if (ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line) == LDNS_STATUS_OK) {
                ldnsp::Rr owned(rr);
                const ldns_rr_type t = ldns_rr_get_type(rr);
                if (t == LDNS_RR_TYPE_DNSKEY || t == LDNS_RR_TYPE_DS) {
                    ldns_resolver_push_dnssec_anchor(res.get(), rr);
                    ++anchors;
                }
            }
        }
        std::fclose(fp);
        ldnsp::Rdf originOwned(origin);
        ldnsp::Rdf prevOwned(prev);
        if (anchors == 0) {
            throw Error(Exit::DataErr, "no DS or DNSKEY record in the trust anchor file",
                        Location{options.trustAnchorFile, 0, {}});
        }
    }
    return res;
}

std::string rrText(const ldns_rr* rr) {
    char* text = ldns_rr2str(rr);
    std::string out = text != nullptr ? text : "";
    LDNS_FREE(text);
    return out;
}

ldnsp::Pkt send(ldns_resolver* res, const ldns_rdf* name, ldns_rr_type type, bool recursive) {
    ldns_pkt* pkt = nullptr;
    const ldns_status st = ldns_resolver_send(&pkt, res, name, type, LDNS_RR_CLASS_IN,
                                              static_cast<std::uint16_t>(recursive ? LDNS_RD : 0));
    if (st != LDNS_STATUS_OK || pkt == nullptr) {
        throw Error(Exit::Unavailable, std::string("no answer from the DNS: ") + ldns_get_errorstr_by_id(st));
    }
    return ldnsp::Pkt(pkt);
}

} // namespace

Server parseServer(std::string_view text) {
    Server s;
    std::string t(text);
    if (!t.empty() && t.front() == '[') {
        const auto close = t.find(']');
        if (close == std::string::npos) {
            throw Error(Exit::Usage, "resolver " + quoted(text) + ": missing ']'");
        }
        s.address = t.substr(1, close - 1);
        if (close + 1 < t.size()) {
            if (t[close + 1] != ':') {
                throw Error(Exit::Usage, "resolver " + quoted(text) + ": expected ':PORT' after ']'");
            }
            t = t.substr(close + 2);
        } else {
            t.clear();
        }
    } else if (std::count(t.begin(), t.end(), ':') == 1) {
        s.address = t.substr(0, t.find(':'));
        t = t.substr(t.find(':') + 1);
    } else {
        s.address = t;
        t.clear();
    }
    if (!t.empty()) {
        if (t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos || std::stoul(t) == 0 ||
            std::stoul(t) > 65535) {
            throw Error(Exit::Usage, "resolver " + quoted(text) + ": port is not from 1 to 65535");
        }
        s.port = static_cast<std::uint16_t>(std::stoul(t));
    }
    if (!isAddress(s.address, AF_INET) && !isAddress(s.address, AF_INET6)) {
        throw Error(Exit::Usage, "resolver " + quoted(text) + " is not an IP address");
    }
    return s;
}

std::string_view toString(Security s) {
    switch (s) {
    case Security::Secure:
        return "secure";
    case Security::Insecure:
        return "insecure";
    case Security::Bogus:
        return "bogus";
    }
    return "insecure";
}

Answer query(const Options& options, std::string_view name, record::Type type) {
    std::string owner;
    try {
        owner = name::normalize(name);
    } catch (const Error& e) {
        throw Error(Exit::Usage, e.message());
    }
    auto res = makeResolver(options);
    ldnsp::Rdf qname(ldns_dname_new_frm_str(owner.c_str()));
    const auto qtype = static_cast<ldns_rr_type>(static_cast<std::uint16_t>(type));
    auto pkt = send(res.get(), qname.get(), qtype, options.recursive);

    Answer answer;
    answer.rcode = static_cast<int>(ldns_pkt_get_rcode(pkt.get()));
    answer.authenticated = ldns_pkt_ad(pkt.get());
    ldnsp::RrList rrset(ldns_pkt_rr_list_by_name_and_type(pkt.get(), qname.get(), qtype, LDNS_SECTION_ANSWER));
    if (rrset) {
        for (std::size_t i = 0; i < ldns_rr_list_rr_count(rrset.get()); ++i) {
            try {
                answer.records.push_back(record::Record::parseLine(rrText(ldns_rr_list_rr(rrset.get(), i))));
            } catch (const Error& e) {
                throw Error(Exit::DataErr, "the DNS answered a record cdm cannot read: " + e.message());
            }
        }
    }
    if (options.trustAnchorFile.empty()) {
        answer.security = answer.authenticated ? Security::Secure : Security::Insecure;
        if (!answer.authenticated) {
            answer.why = "the resolver did not set the AD bit";
        }
        return answer;
    }
    if (!rrset || ldns_rr_list_rr_count(rrset.get()) == 0) {
        answer.security = Security::Insecure;
        answer.why = "no records to validate (denial of existence is not checked)";
        return answer;
    }
    ldnsp::RrList sigs(ldns_pkt_rr_list_by_name_and_type(pkt.get(), qname.get(), LDNS_RR_TYPE_RRSIG, LDNS_SECTION_ANSWER));
    if (!sigs || ldns_rr_list_rr_count(sigs.get()) == 0) {
        answer.security = Security::Bogus;
        answer.why = "the answer carries no RRSIG";
        return answer;
    }
    ldnsp::RrList keys(ldns_rr_list_new());
    const ldns_status st = ldns_verify_trusted(res.get(), rrset.get(), sigs.get(), keys.get());
    answer.security = st == LDNS_STATUS_OK ? Security::Secure : Security::Bogus;
    if (st != LDNS_STATUS_OK) {
        answer.why = ldns_get_errorstr_by_id(st);
    }
    return answer;
}

std::vector<std::string> addresses(const Options& options, std::string_view host) {
    Options plain = options;
    plain.trustAnchorFile.clear();
    std::vector<std::string> out;
    for (const auto type : {record::Type::AAAA, record::Type::A}) {
        for (const auto& r : query(plain, host, type).records) {
            out.push_back(r.data);
        }
    }
    return out;
}

} // namespace cdm::resolve
