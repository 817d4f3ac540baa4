// certphase: the renewal decision, the key choice, the material JSON and the filesystem steps
// of deployment and cleanup, on real certificates issued in the test by a test CA made with
// OpenSSL's API (the leaf keys come from libcommon/keys, as in production).

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "libcommon/certphase.hpp"
#include "libcommon/deleter.hpp"
#include "libcommon/fsutil.hpp"
#include "libcommon/keys.hpp"
#include "libcommon/ossl.hpp"
#include "libcommon/x509.hpp"

#include "tests/unit/test_util.hpp"

using namespace cdm;
using namespace cdm::certphase;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

constexpr std::int64_t day = 86400;

using Extension = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

std::string pemOf(X509* x) {
    ossl::Bio bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), x);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

void addExt(X509* x, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
    Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    ASSERT_TRUE(ext) << value;
    X509_add_ext(x, ext.get(), -1);
}

// A test CA (ECDSA P-256, in memory) that issues leaf certificates for keys made by
// libcommon/keys, with chosen names, validity and serial.
class TestCa {
public:
    TestCa() {
        key_.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        cert_.reset(X509_new());
        X509_set_version(cert_.get(), 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert_.get()), 1);
        X509_NAME* name = X509_get_subject_name(cert_.get());
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("cdm test CA"), -1, -1,
                                   0);
        X509_set_issuer_name(cert_.get(), name);
        X509_gmtime_adj(X509_getm_notBefore(cert_.get()), -365 * day);
        X509_gmtime_adj(X509_getm_notAfter(cert_.get()), 3650 * day);
        X509_set_pubkey(cert_.get(), key_.get());
        addExt(cert_.get(), cert_.get(), NID_basic_constraints, "critical,CA:TRUE");
        addExt(cert_.get(), cert_.get(), NID_subject_key_identifier, "hash");
        X509_sign(cert_.get(), key_.get(), EVP_sha256());
    }

    std::string pem() const { return pemOf(cert_.get()); }

    // The leaf PEM for the public key of `keyFile`.
    std::string issue(const std::string& keyFile, const std::vector<std::string>& names,
                      std::time_t notBefore, std::time_t notAfter, long serial) const {
        const auto spki = keys::publicKeyDer(keyFile);
        const unsigned char* p = spki.data();
        ossl::PKey pub(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
        ossl::X509Ptr x(X509_new());
        X509_set_version(x.get(), 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
        X509_set_issuer_name(x.get(), X509_get_subject_name(cert_.get()));
        ASN1_TIME_set(X509_getm_notBefore(x.get()), notBefore);
        ASN1_TIME_set(X509_getm_notAfter(x.get()), notAfter);
        X509_set_pubkey(x.get(), pub.get());
        std::string san;
        for (const auto& n : names) {
            san += (san.empty() ? "DNS:" : ",DNS:") + n;
        }
        addExt(x.get(), cert_.get(), NID_subject_alt_name, san.c_str());
        addExt(x.get(), cert_.get(), NID_authority_key_identifier, "keyid:always");
        X509_sign(x.get(), key_.get(), EVP_sha256());
        return pemOf(x.get());
    }

private:
    ossl::PKey key_;
    ossl::X509Ptr cert_;
};

class Dir {
public:
    Dir() {
        std::string t = (fs::temp_directory_path() / "certphase-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~Dir() { fs::remove_all(path); }
    Dir(const Dir&) = delete;
    Dir& operator=(const Dir&) = delete;
    std::string path;
};

mode_t modeOf(const std::string& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
}

std::string readLink(const std::string& path) {
    std::error_code ec;
    return fs::read_symlink(path, ec).string();
}

// A staged generation as prepare leaves it: a key from libcommon/keys and a chain from the
// test CA, with the material facts taken from the certificate itself.
Generation stage(const TestCa& ca, const std::string& statedir,
                 const std::vector<std::string>& names, std::time_t notBefore, std::time_t notAfter,
                 long serial, const std::string& reuseKeyFrom = {}) {
    const std::string tmp = statedir + "/cert/main/.tmp";
    fsutil::ensureDirectory(tmp);
    const std::string key = tmp + "/privkey.pem";
    if (reuseKeyFrom.empty()) {
        keys::generate(keys::KeySpec{keys::Algorithm::EcdsaP256, 0}, key);
    } else {
        keys::deploy(reuseKeyFrom, key);
    }
    const std::string leaf = ca.issue(key, names, notBefore, notAfter, serial);
    fsutil::writeFileAtomic(tmp + "/cert.pem", leaf, 0644);
    fsutil::writeFileAtomic(tmp + "/chain.pem", ca.pem(), 0644);
    fsutil::writeFileAtomic(tmp + "/fullchain.pem", leaf + ca.pem(), 0644);
    const auto facts = factsOf(x509::parseChain(leaf, "leaf").front());
    const std::string dir = statedir + "/cert/main/" + stamp(notBefore) + "-" + facts.serial;
    fs::rename(tmp, dir);
    Generation g;
    g.dir = dir;
    g.key = dir + "/privkey.pem";
    g.csr = dir + "/csr.pem";
    g.cert = dir + "/cert.pem";
    g.chain = dir + "/chain.pem";
    g.fullchain = dir + "/fullchain.pem";
    g.names = names;
    g.keyType = facts.keyType;
    g.keySize = facts.keySize;
    g.spkiSha256 = facts.spkiSha256;
    g.serial = facts.serial;
    g.notBefore = facts.notBefore;
    g.notAfter = facts.notAfter;
    g.issued = notBefore;
    g.issuer = facts.issuer;
    return g;
}

const std::time_t t0 = 1'800'000'000; // 2027-01-15

} // namespace

// ---------------------------------------------------------------------------- facts

TEST(CertFacts, ReadFromARealCertificate) {
    Dir d;
    TestCa ca;
    const std::string key = d.path + "/k.pem";
    keys::generate(keys::KeySpec{keys::Algorithm::Rsa, 2048}, key);
    const std::string pem =
        ca.issue(key, {"www.example.test", "example.test"}, t0, t0 + 90 * day, 0x1234abcd);
    const auto f = factsOf(x509::parseChain(pem, "leaf").front());
    EXPECT_EQ(f.names, (std::vector<std::string>{"www.example.test", "example.test"}));
    EXPECT_EQ(f.serial, "1234abcd");
    EXPECT_EQ(f.notBefore, t0);
    EXPECT_EQ(f.notAfter, t0 + 90 * day);
    EXPECT_EQ(f.issuer, "cdm test CA");
    EXPECT_EQ(f.keyType, KeyType::Rsa);
    EXPECT_EQ(f.keySize, 2048U);
    EXPECT_EQ(f.spkiSha256, spkiSha256(keys::publicKeyDer(key)));
    EXPECT_EQ(f.spkiSha256.size(), 64U);
}

// ---------------------------------------------------------------------------- decision

TEST(RenewTime, DefaultIsThirtyDaysOrAThirdOfTheLifetime) {
    struct Row {
        const char* desc;
        std::int64_t lifetime;
        std::optional<std::int64_t> before;
        std::int64_t expectBefore;
    } rows[] = {
        {"90-day certificate: 30 days", 90 * day, std::nullopt, 30 * day},
        {"a year: still 30 days", 365 * day, std::nullopt, 30 * day},
        {"6-day certificate: 2 days", 6 * day, std::nullopt, 2 * day},
        {"explicit renewbefore wins", 6 * day, 1, 1 * day},
        {"explicit renewbefore on a long one", 365 * day, 60, 60 * day},
    };
    for (const auto& r : rows) {
        const auto [at, why] = renewTime(t0, t0 + r.lifetime, r.before);
        EXPECT_EQ(at, t0 + r.lifetime - r.expectBefore) << r.desc;
        EXPECT_FALSE(why.empty()) << r.desc;
    }
}

TEST(Decide, EachReasonInOrder) {
    Dir d;
    TestCa ca;
    const std::vector<std::string> names{"www.example.test", "example.test"};
    Generation cur = stage(ca, d.path, names, t0, t0 + 90 * day, 7);
    Generation nxt = cur;
    nxt.serial = "08";
    const auto fixed = [](std::uint64_t) { return std::uint64_t{0}; };
    struct Row {
        const char* desc;
        bool hasCurrent, hasNext;
        std::vector<std::string> names;
        unsigned keySize;
        bool forced, compromised, roll;
        std::time_t now;
        bool issue;
        const char* reason;
    } rows[] = {
        {"forced beats everything, even a staged next", true, true, names, 256, true, false, false,
         t0, true, "forced"},
        {"no certificate yet", false, false, names, 256, false, false, false, t0, true,
         "no certificate yet"},
        {"next staged: kept", true, true, names, 256, false, false, false, t0 + 89 * day, false,
         "next already staged"},
        {"names changed",
         true,
         false,
         {"www.example.test"},
         256,
         false,
         false,
         false,
         t0,
         true,
         "names changed"},
        {"names in another order are the same set",
         true,
         false,
         {"example.test", "www.example.test"},
         256,
         false,
         false,
         false,
         t0,
         false,
         "not due"},
        {"key parameters changed", true, false, names, 384, false, false, false, t0, true,
         "key parameters changed (ecdsa 256 -> ecdsa 384)"},
        {"compromised", true, false, names, 256, false, true, false, t0, true, "key compromised"},
        {"key roll", true, false, names, 256, false, false, true, t0, true, "key roll requested"},
        {"not due the day before", true, false, names, 256, false, false, false, t0 + 60 * day - 1,
         false, "not due: 30 days before expiry"},
        {"due at not_after - 30 days", true, false, names, 256, false, false, false, t0 + 60 * day,
         true, "due: 30 days before expiry"},
    };
    for (const auto& r : rows) {
        Material m;
        if (r.hasCurrent) {
            m.current = cur;
        }
        if (r.hasNext) {
            m.next = nxt;
        }
        DecisionInput in;
        in.names = r.names;
        in.keyType = KeyType::Ecdsa;
        in.keySize = r.keySize;
        in.forced = r.forced;
        in.compromised = r.compromised;
        in.rollKey = r.roll;
        in.now = r.now;
        const Decision dec = decide(in, m, fixed);
        EXPECT_EQ(dec.issue, r.issue) << r.desc << ": " << dec.reason;
        EXPECT_NE(dec.reason.find(r.reason), std::string::npos) << r.desc << ": " << dec.reason;
    }
}

TEST(Decide, AriWindowIsChosenOnceAndKept) {
    Dir d;
    TestCa ca;
    const std::vector<std::string> names{"www.example.test"};
    Material m;
    m.current = stage(ca, d.path, names, t0, t0 + 90 * day, 9);
    DecisionInput in;
    in.names = names;
    in.keyType = KeyType::Ecdsa;
    in.keySize = 256;
    in.now = t0 + 10 * day;
    in.ari = acme::RenewalInfo{t0 + 50 * day, t0 + 52 * day, "https://ca.test/why", 0};
    in.ariCertId = "aki.serial";
    std::uint64_t asked = 0;
    const auto pick = [&](std::uint64_t size) {
        asked = size;
        return size / 4;
    };
    const Decision first = decide(in, m, pick);
    EXPECT_FALSE(first.issue) << first.reason;
    EXPECT_EQ(asked, static_cast<std::uint64_t>(2 * day + 1));
    EXPECT_EQ(first.renewAt, t0 + 50 * day + (2 * day + 1) / 4);
    ASSERT_TRUE(first.ari);
    EXPECT_EQ(first.ari->certId, "aki.serial");
    EXPECT_NE(first.reason.find("ARI window"), std::string::npos) << first.reason;
    // ARI explains in prose only: the URL is in the reason, where the operator reads it.
    EXPECT_NE(first.reason.find("(the CA explains: https://ca.test/why)"), std::string::npos) << first.reason;

    // Kept in material: the next run with the same window does not choose again.
    m.current->renewAt = first.renewAt;
    m.current->ari = first.ari;
    asked = 0;
    const Decision again = decide(in, m, [&](std::uint64_t size) {
        asked = size;
        return std::uint64_t{0};
    });
    EXPECT_EQ(asked, 0U);
    EXPECT_EQ(again.renewAt, first.renewAt);

    // Due once now reaches the kept time.
    in.now = first.renewAt;
    EXPECT_TRUE(decide(in, m, pick).issue);

    // A moved window (the CA asks for an early renewal) picks again, inside the new window.
    in.now = t0 + 10 * day;
    in.ari = acme::RenewalInfo{t0 + 5 * day, t0 + 6 * day, "", 0};
    const Decision moved = decide(in, m, [](std::uint64_t size) { return size - 1; });
    EXPECT_EQ(moved.renewAt, t0 + 6 * day);
    EXPECT_TRUE(moved.issue);
}

// ---------------------------------------------------------------------------- key choice

TEST(ChooseKey, ReuseStandbyRollAndCompromise) {
    Dir d;
    TestCa ca;
    Material base;
    base.current = stage(ca, d.path, {"a.example.test"}, t0, t0 + 90 * day, 3);
    base.current->keySince = t0;
    Standby standby{d.path + "/standby.pem", "ab", KeyType::Ecdsa, 256, t0};
    struct Row {
        const char* desc;
        bool reuse;
        std::int64_t roll;
        unsigned size;
        bool hasStandby, rollKey, compromised;
        std::time_t now;
        KeySource source;
        bool makeStandby;
    } rows[] = {
        {"reusekey off: new key", false, 0, 256, false, false, false, t0, KeySource::New, false},
        {"reusekey off, compromised: standby if there is one", false, 0, 256, true, false, true, t0,
         KeySource::Standby, false},
        {"reusekey: current kept, standby made when missing", true, 0, 256, false, false, false, t0,
         KeySource::Current, true},
        {"reusekey: current kept, standby exists", true, 0, 256, true, false, false, t0,
         KeySource::Current, false},
        {"keyroll days not yet passed", true, 100, 256, true, false, false, t0 + 99 * day,
         KeySource::Current, false},
        {"keyroll days passed: standby takes over", true, 100, 256, true, false, false,
         t0 + 100 * day, KeySource::Standby, true},
        {"--roll-key: standby", true, 0, 256, true, true, false, t0, KeySource::Standby, true},
        {"--roll-key without standby: new", true, 0, 256, false, true, false, t0, KeySource::New,
         true},
        {"compromised: standby at once", true, 0, 256, true, false, true, t0, KeySource::Standby,
         true},
        {"compromised without standby: new", true, 0, 256, false, false, true, t0, KeySource::New,
         true},
        {"key size changed: the standby does not fit, new", true, 0, 384, true, false, false, t0,
         KeySource::New, true},
    };
    for (const auto& r : rows) {
        Material m = base;
        if (r.hasStandby) {
            m.standby = standby;
        }
        const KeyChoice k =
            chooseKey(r.reuse, r.roll, KeyType::Ecdsa, r.size, m, r.now, r.rollKey, r.compromised);
        EXPECT_EQ(k.source, r.source) << r.desc << ": " << k.reason;
        EXPECT_EQ(k.makeStandby, r.makeStandby) << r.desc;
        EXPECT_FALSE(k.reason.empty()) << r.desc;
    }
    // The first certificate with reusekey gets a new key and a standby beside it.
    const KeyChoice first = chooseKey(true, 0, KeyType::Rsa, 4096, Material{}, t0, false, false);
    EXPECT_EQ(first.source, KeySource::New);
    EXPECT_TRUE(first.makeStandby);
}

// ---------------------------------------------------------------------------- material

TEST(Material, RoundTrip) {
    Dir d;
    TestCa ca;
    Material m;
    m.current = stage(ca, d.path, {"www.example.test", "example.test"}, t0, t0 + 90 * day, 0x10);
    m.current->renewAt = t0 + 60 * day;
    m.current->renewReason = "30 days before expiry";
    m.current->ari = AriWindow{"x.y", t0 + 1, t0 + 2, "https://e.test"};
    m.current->deployed = {Deployed{"www.example.test", d.path + "/www.example.test", ".cdm-g"}};
    m.current->keySince = t0 - 5;
    m.next = stage(ca, d.path, {"www.example.test"}, t0 + day, t0 + 91 * day, 0x11);
    m.standby = Standby{d.path + "/keys/x.pem", "00ff", KeyType::Rsa, 3072, t0};
    const json::object j = toJson(m);
    EXPECT_EQ(j.at("current").at("serial").as_string(), "10");
    EXPECT_EQ(j.at("current").at("fullchain").as_string(), m.current->fullchain);
    EXPECT_EQ(j.at("current").at("names").as_array().size(), 2U);
    EXPECT_EQ(j.at("standby").at("keysize").to_number<int>(), 3072);
    EXPECT_FALSE(j.contains("previous"));
    const Material back = materialFromJson(json::parse(json::serialize(j)), "material.cert.main");
    EXPECT_EQ(json::serialize(toJson(back)), json::serialize(j));

    std::string message;
    json::value bad = j;
    bad.as_object()["current"].as_object()["not_after"] = "soon";
    EXPECT_EQ(test::codeOf([&] { materialFromJson(bad, "material.cert.main"); }, &message),
              Exit::DataErr);
    EXPECT_NE(message.find("material.cert.main.current.not_after"), std::string::npos) << message;
}

// ---------------------------------------------------------------------------- deployment

TEST(Deploy, SymlinksModesIdempotenceAndCrashConvergence) {
    Dir d;
    TestCa ca;
    const std::string dest = d.path + "/dest";
    const std::vector<std::string> names{"www.example.test", "example.test"};
    const Generation g1 = stage(ca, d.path + "/state", names, t0, t0 + 90 * day, 21);
    const std::string www = dest + "/www.example.test";
    // What the original left: a regular file where a symlink goes, and a user's own file.
    fsutil::ensureDirectory(www);
    fsutil::writeFileAtomic(www + "/cert.pem", "old regular file\n", 0644);
    fsutil::writeFileAtomic(www + "/my-notes.txt", "mine\n", 0600);

    const auto deployed = deploy(g1, dest, names);
    ASSERT_EQ(deployed.size(), 2U);
    const std::string gen = ".cdm-" + fs::path(g1.dir).filename().string();
    for (const auto& dd : deployed) {
        EXPECT_EQ(dd.generation, gen);
        EXPECT_EQ(readLink(dd.dir + "/.cdm-current"), gen);
        for (const char* f : {"cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"}) {
            EXPECT_EQ(readLink(dd.dir + "/" + f), std::string(".cdm-current/") + f) << f;
        }
        EXPECT_EQ(modeOf(dd.dir + "/" + gen), 0700U);
        EXPECT_EQ(modeOf(dd.dir + "/" + gen + "/privkey.pem"), 0600U);
        EXPECT_EQ(fsutil::readFile(dd.dir + "/fullchain.pem", 1 << 20),
                  fsutil::readFile(g1.fullchain, 1 << 20));
        EXPECT_EQ(keys::publicKeyDer(dd.dir + "/privkey.pem"), keys::publicKeyDer(g1.key));
    }
    EXPECT_EQ(modeOf(dest + "/example.test"), 0700U);

    // Twice = the same result.
    EXPECT_EQ(deploy(g1, dest, names).size(), 2U);
    EXPECT_EQ(readLink(www + "/.cdm-current"), gen);

    // A crash between the steps: the switch symlink and one file symlink are gone, a temporary
    // symlink is left over. The next run completes the set.
    fs::remove(www + "/.cdm-current");
    fs::remove(www + "/chain.pem");
    fs::create_symlink("nowhere", www + "/fullchain.pem.cdm-tmp");
    deploy(g1, dest, names);
    EXPECT_EQ(readLink(www + "/.cdm-current"), gen);
    EXPECT_EQ(readLink(www + "/chain.pem"), ".cdm-current/chain.pem");
    EXPECT_EQ(fsutil::readFile(www + "/chain.pem", 1 << 20), ca.pem());

    // The next generation, then cleanup of the first: only the recorded .cdm- directory goes.
    Generation old = g1;
    old.deployed = deployed;
    const Generation g2 = stage(ca, d.path + "/state", names, t0 + day, t0 + 91 * day, 22, g1.key);
    deploy(g2, dest, names);
    const std::string gen2 = ".cdm-" + fs::path(g2.dir).filename().string();
    EXPECT_EQ(readLink(www + "/.cdm-current"), gen2);
    fsutil::ensureDirectory(www + "/.cdm-unrecorded");
    const auto removed = cleanupGeneration(old, d.path + "/state/cert/main");
    EXPECT_EQ(removed.size(), 3U); // two deployed generations and the staged directory
    EXPECT_FALSE(fs::exists(www + "/" + gen));
    EXPECT_FALSE(fs::exists(g1.dir));
    EXPECT_TRUE(fs::exists(www + "/" + gen2 + "/privkey.pem"));
    EXPECT_TRUE(fs::exists(www + "/.cdm-unrecorded"));
    EXPECT_EQ(fsutil::readFile(www + "/my-notes.txt", 100), "mine\n");
    EXPECT_EQ(fsutil::readFile(www + "/fullchain.pem", 1 << 20),
              fsutil::readFile(g2.fullchain, 1 << 20));
    // Cleaning again removes nothing more.
    EXPECT_TRUE(cleanupGeneration(old, d.path + "/state/cert/main").empty());
}

TEST(Deploy, CleanupNeverRemovesTheCurrentTargetOrOutsideTheStateDir) {
    Dir d;
    TestCa ca;
    const std::string dest = d.path + "/dest";
    Generation g = stage(ca, d.path + "/state", {"a.example.test"}, t0, t0 + 90 * day, 5);
    g.deployed = deploy(g, dest, g.names);
    // Material claiming the live generation is old, and a staged dir outside the state dir.
    Generation claim = g;
    claim.dir = d.path + "/elsewhere";
    fsutil::ensureDirectory(claim.dir);
    claim.deployed.push_back(Deployed{"a.example.test", dest + "/a.example.test", "my-dir"});
    fsutil::ensureDirectory(dest + "/a.example.test/my-dir");
    test::LogCapture log;
    EXPECT_TRUE(cleanupGeneration(claim, d.path + "/state/cert/main").empty());
    EXPECT_TRUE(fs::exists(dest + "/a.example.test/" + g.deployed[0].generation + "/cert.pem"));
    EXPECT_TRUE(fs::exists(claim.dir));
    EXPECT_TRUE(fs::exists(dest + "/a.example.test/my-dir"));
}

TEST(Cleanup, StandbyKeysOnlyTheUnusedOnes) {
    Dir d;
    const std::string base = d.path + "/cert/main";
    fsutil::ensureDirectory(base + "/keys");
    keys::generate(keys::KeySpec{keys::Algorithm::EcdsaP256, 0},
                   base + "/keys/20270101T000000Z.pem");
    keys::generate(keys::KeySpec{keys::Algorithm::EcdsaP256, 0},
                   base + "/keys/20270201T000000Z.pem");
    fsutil::writeFileAtomic(base + "/keys/README", "not ours\n", 0644);
    const auto removed = cleanupStandbyKeys(base, base + "/keys/20270201T000000Z.pem");
    EXPECT_EQ(removed, (std::vector<std::string>{base + "/keys/20270101T000000Z.pem"}));
    EXPECT_TRUE(fs::exists(base + "/keys/20270201T000000Z.pem"));
    EXPECT_TRUE(fs::exists(base + "/keys/README"));
}

// ---------------------------------------------------------------------------- settings

namespace {

json::object docWith(json::object keys, json::object where,
                     json::array domains = {"www.example.test"}) {
    return json::object{
        {"cdm", 1},
        {"config",
         json::object{
             {"cdm",
              json::object{{"DEFAULT", json::object{{"keys", json::object{{"statedir", "/s"}}}}}}},
             {"cert",
              json::object{{"main", json::object{{"keys", keys},
                                                 {"where", where},
                                                 {"source", "c.conf:4"},
                                                 {"domains", domains}}},
                           {"lonely", json::object{{"keys", json::object{{"handler", "acme"}}},
                                                   {"where", json::object{}},
                                                   {"source", "c.conf:20"},
                                                   {"domains", json::array{}}}}}}}}};
}

} // namespace

TEST(Settings, DefaultsAndTheOriginalsKeys) {
    std::vector<std::string> warnings;
    auto s = settingsOf(docWith({{"handler", "dehydrated/letsencrypt"}, {"keysize", "4096"}},
                                {{"handler", "c.conf:5"}, {"keysize", "built-in"}}),
                        "main", warnings);
    EXPECT_EQ(s.ca, letsEncrypt);
    EXPECT_EQ(s.keyType, KeyType::Rsa);
    EXPECT_EQ(s.keySize, 4096U);
    EXPECT_EQ(s.statedir, "/s");
    EXPECT_EQ(s.names, (std::vector<std::string>{"www.example.test"}));
    EXPECT_FALSE(s.renewBeforeDays);
    EXPECT_TRUE(warnings.empty());

    s = settingsOf(docWith({{"handler", "acme"},
                            {"keytype", "ecdsa"},
                            {"keysize", "4096"},
                            {"extraflags", "-x, staging --ocsp --frobnicate"},
                            {"renewbefore", "10"}},
                           {{"handler", "c.conf:5"},
                            {"keytype", "c.conf:6"},
                            {"keysize", "built-in"},
                            {"extraflags", "c.conf:7"},
                            {"renewbefore", "c.conf:8"}}),
                   "main", warnings);
    EXPECT_EQ(s.keySize, 256U) << "the built-in 4096 means 256 for ecdsa";
    EXPECT_TRUE(s.force);
    EXPECT_TRUE(s.mustStaple);
    EXPECT_EQ(s.ca, letsEncryptStaging);
    EXPECT_EQ(s.renewBeforeDays, 10);
    ASSERT_EQ(warnings.size(), 2U);
    EXPECT_NE(warnings[0].find("c.conf:7: [cert:main] extraflags '--frobnicate' is not known"),
              std::string::npos)
        << warnings[0];
    EXPECT_NE(warnings[1].find("Let's Encrypt no longer issues must-staple"), std::string::npos)
        << warnings[1];
}

TEST(Settings, BadValuesNameTheKeysFileAndLine) {
    struct Row {
        const char* key;
        const char* value;
        const char* message;
    } rows[] = {
        {"handler", "certbot", "c.conf:9: [cert:main] handler 'certbot' is not acme"},
        {"keytype", "dsa", "c.conf:9: [cert:main] keytype 'dsa' is not rsa or ecdsa"},
        {"keysize", "1024", "c.conf:9: [cert:main] keysize '1024' is not 2048, 3072 or 4096"},
        {"reusekey", "maybe", "c.conf:9: [cert:main] reusekey takes yes or no, not 'maybe'"},
        {"renewbefore", "-3", "c.conf:9: [cert:main] renewbefore takes 1 to 3650 days"},
        {"challenge", "tls-alpn-01",
         "c.conf:9: [cert:main] challenge 'tls-alpn-01' is not dns-01 or http-01"},
        {"challenge", "http-01", "c.conf:9: [cert:main] challenge http-01 needs webroot"},
        {"propagationtimeout", "0",
         "c.conf:9: [cert:main] propagationtimeout takes 1 to 86400 seconds"},
        {"ca", "ftp://x", "c.conf:9: [cert:main] ca 'ftp://x' is not an https:// directory URL"},
        {"eab_kid", "kid-1", "c.conf:9: [cert:main] eab_kid needs eab_hmac_key"},
    };
    for (const auto& r : rows) {
        json::object keys{{"handler", "acme"}};
        keys[r.key] = r.value;
        json::object where{{"handler", "c.conf:5"}};
        where[r.key] = "c.conf:9";
        std::vector<std::string> warnings;
        std::string message;
        EXPECT_EQ(
            test::codeOf([&] { settingsOf(docWith(keys, where), "main", warnings); }, &message),
            Exit::Config)
            << r.key;
        EXPECT_NE(message.find(r.message), std::string::npos) << r.key << ": " << message;
    }
}

TEST(Settings, UnlinkedCertIsNamedNotAnError) {
    std::vector<std::string> unlinked;
    const auto linked = linkedCerts(docWith({{"handler", "acme"}}, {}), unlinked);
    EXPECT_EQ(linked, (std::vector<std::string>{"main"}));
    EXPECT_EQ(unlinked, (std::vector<std::string>{"lonely"}));
}

TEST(Phase, RolloverWithoutDestinationNamesTheSection) {
    Dir d;
    TestCa ca;
    auto doc = docWith({{"handler", "acme"}}, {{"handler", "c.conf:5"}});
    doc["config"]
        .as_object()["cdm"]
        .as_object()["DEFAULT"]
        .as_object()["keys"]
        .as_object()["statedir"] = d.path + "/state";
    Material m;
    m.next = stage(ca, d.path + "/state", {"www.example.test"}, t0, t0 + 90 * day, 1);
    doc["material"] = json::object{{"cert", json::object{{"main", toJson(m)}}}};
    const std::string before = json::serialize(doc["material"]);
    Options o;
    o.phase = "rollover";
    o.now = t0;
    // The section fails on its own: the run records the error for the program to exit with,
    // reports it, and leaves the section's material as it was.
    const Summary summary = run(doc, o);
    ASSERT_TRUE(summary.failure);
    EXPECT_EQ(summary.failure->code(), Exit::Config);
    const std::string message = summary.failure->what();
    EXPECT_NE(message.find("c.conf:4: [cert:main] has no destination"), std::string::npos)
        << message;
    EXPECT_EQ(json::serialize(doc["material"]), before);
    const auto& report = doc["report"].as_array();
    ASSERT_FALSE(report.empty());
    EXPECT_EQ(report.back().at("event").as_string(), "failed");
    EXPECT_EQ(report.back().at("exit").to_number<int>(), 78);
}

TEST(Phase, RolloverThenCleanupThroughTheDocument) {
    Dir d;
    TestCa ca;
    const std::string state = d.path + "/state";
    const std::string dest = d.path + "/dest";
    auto doc = docWith({{"handler", "acme"}, {"destination", dest}}, {{"handler", "c.conf:5"}});
    doc["config"]
        .as_object()["cdm"]
        .as_object()["DEFAULT"]
        .as_object()["keys"]
        .as_object()["statedir"] = state;
    Material m;
    m.next = stage(ca, state, {"www.example.test"}, t0, t0 + 90 * day, 1);
    doc["material"] = json::object{{"cert", json::object{{"main", toJson(m)}}}};
    test::LogCapture log;
    Options o;
    o.now = t0;
    o.phase = "rollover";
    auto s = run(doc, o);
    EXPECT_EQ(s.deployed, 1U);
    EXPECT_EQ(s.skipped, 1U) << "cert:lonely";
    EXPECT_NE(log.all().find("c.conf:20: no domain links cert:lonely, skipping it"),
              std::string::npos)
        << log.all();
    Material after = materialFromJson(doc["material"].at("cert").at("main"), "m");
    ASSERT_TRUE(after.current);
    EXPECT_FALSE(after.next);
    EXPECT_EQ(after.current->deployed.size(), 1U);
    const std::string first = json::serialize(doc["material"]);
    // Twice: the same material, the same files.
    run(doc, o);
    EXPECT_EQ(json::serialize(doc["material"]), first);

    // A second generation, rolled over: the first becomes previous; cleanup removes it.
    after.next = stage(ca, state, {"www.example.test"}, t0 + day, t0 + 91 * day, 2);
    doc["material"].as_object()["cert"].as_object()["main"] = toJson(after);
    run(doc, o);
    after = materialFromJson(doc["material"].at("cert").at("main"), "m");
    ASSERT_TRUE(after.previous);
    const std::string oldGen =
        dest + "/www.example.test/" + after.previous->deployed.at(0).generation;
    EXPECT_TRUE(fs::exists(oldGen));
    fsutil::writeFileAtomic(dest + "/www.example.test/user.conf", "x\n", 0644);
    o.phase = "cleanup";
    s = run(doc, o);
    EXPECT_EQ(s.cleaned, 1U);
    EXPECT_FALSE(fs::exists(oldGen));
    EXPECT_FALSE(fs::exists(after.previous->dir));
    EXPECT_TRUE(fs::exists(dest + "/www.example.test/user.conf"));
    EXPECT_TRUE(fs::exists(after.current->key));
    EXPECT_FALSE(materialFromJson(doc["material"].at("cert").at("main"), "m").previous);
}

// ---------------------------------------------------------------------------- unrecorded sweep

namespace {

json::object docIn(const std::string& statedir) {
    auto doc = docWith({{"handler", "acme"}}, {{"handler", "c.conf:5"}});
    doc["config"]
        .as_object()["cdm"]
        .as_object()["DEFAULT"]
        .as_object()["keys"]
        .as_object()["statedir"] = statedir;
    return doc;
}

// `g` with every path's `from` prefix spelled `to`: the same files, named another way.
Generation respelled(Generation g, const std::string& from, const std::string& to) {
    for (std::string* p : {&g.dir, &g.key, &g.csr, &g.cert, &g.chain, &g.fullchain}) {
        EXPECT_EQ(p->rfind(from, 0), 0U) << *p;
        *p = to + p->substr(from.size());
    }
    return g;
}

} // namespace

// `cdm-config c.conf | cdm-cert phase --phase cleanup` (no state in the document): the
// generations the saved state names must survive, so no issued generation counts as unrecorded.
TEST(Cleanup, WithoutMaterialNoGenerationIsRemoved) {
    Dir d;
    TestCa ca;
    const std::string state = d.path + "/state";
    const Generation current = stage(ca, state, {"www.example.test"}, t0, t0 + 90 * day, 0x0a1b2c);
    const Generation next =
        stage(ca, state, {"www.example.test"}, t0 + day, t0 + 91 * day, 0x0a1b2d);
    const std::string currentName = fs::path(current.dir).filename().string();
    EXPECT_EQ(currentName.substr(0, 17), stamp(t0) + "-") << currentName;
    // A crashed prepare's staging directory: proof that the sweep itself ran.
    fsutil::ensureDirectory(state + "/cert/main/.tmp-crashed");
    auto doc = docIn(state);
    test::LogCapture log;
    Options o;
    o.now = t0 + 2 * day;
    o.phase = "cleanup";
    const auto s = run(doc, o);
    EXPECT_FALSE(s.failure);
    EXPECT_FALSE(fs::exists(state + "/cert/main/.tmp-crashed"));
    EXPECT_TRUE(fs::exists(current.cert)) << current.dir;
    EXPECT_TRUE(fs::exists(current.key)) << current.dir;
    EXPECT_TRUE(fs::exists(next.cert)) << next.dir;
    EXPECT_TRUE(fs::exists(next.key)) << next.dir;
}

// The state names current and next through another spelling of the state directory than the
// configuration's (a symlink, "//", "/./"): both stay; a generation it does not name goes.
TEST(Cleanup, RecordedGenerationsSpelledAnotherWayAreKept) {
    Dir d;
    TestCa ca;
    const std::string state = d.path + "/state";
    const std::string link = d.path + "/state-link";
    fsutil::ensureDirectory(state);
    fs::create_directory_symlink(state, link);
    const Generation current = stage(ca, state, {"www.example.test"}, t0, t0 + 90 * day, 0x0a1b2c);
    const Generation next =
        stage(ca, state, {"www.example.test"}, t0 + day, t0 + 91 * day, 0x0a1b2d);
    const Generation stray =
        stage(ca, state, {"www.example.test"}, t0 + 2 * day, t0 + 92 * day, 0x0a1b2e);
    Material m;
    m.current = respelled(current, state, link);
    m.next = respelled(next, state + "/cert/main", d.path + "//state/./cert//main");
    auto doc = docIn(state);
    doc["material"] = json::object{{"cert", json::object{{"main", toJson(m)}}}};
    test::LogCapture log;
    Options o;
    o.now = t0 + 3 * day;
    o.phase = "cleanup";
    const auto s = run(doc, o);
    EXPECT_FALSE(s.failure);
    EXPECT_TRUE(fs::exists(current.cert)) << current.dir;
    EXPECT_TRUE(fs::exists(current.key)) << current.dir;
    EXPECT_TRUE(fs::exists(next.cert)) << next.dir;
    EXPECT_TRUE(fs::exists(next.key)) << next.dir;
    EXPECT_FALSE(fs::exists(stray.dir)) << "unrecorded, so removed";
    const Material after = materialFromJson(doc["material"].at("cert").at("main"), "m");
    ASSERT_TRUE(after.current);
    ASSERT_TRUE(after.next);
    EXPECT_EQ(after.current->dir, m.current->dir);
    EXPECT_EQ(after.next->dir, m.next->dir);
}
