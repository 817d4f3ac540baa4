// cdm-dkim's input: key files in PEM or DER (libcommon/keys), the record built from a key and
// read back, and DKIM records as other tools write them and as DNS serves them
// (libcommon/dkim).

#include <string>
#include <vector>

#include "libcommon/dkim.hpp"
#include "libcommon/error.hpp"
#include "libcommon/keys.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using namespace cdm;

const std::vector<std::uint8_t>& fixedKey() {
    static const std::vector<std::uint8_t> spki = keys::publicKeyDerFromData(
        fuzz::testData("tests/fuzz/data/dkim-ed25519.pub"), "dkim-ed25519.pub");
    return spki;
}

// A key file: the record cdm would publish for it must read back and publish that key.
void keyFile(std::string_view text) {
    const std::vector<std::uint8_t> spki = keys::publicKeyDerFromData(text, "fuzz.key");
    keys::algorithmOf(spki);
    keys::bitsOf(spki);
    const dkim::KeyRecord made = dkim::fromPublicKey(spki);
    const std::string published = made.toText();
    const dkim::KeyRecord read = dkim::parseKeyRecord(published);
    fuzz::require(dkim::compare(read, spki).match, "the record made from a key matches the key");
    fuzz::require(dkim::judgeRecord(published, spki).verdict == dkim::Verdict::Pass,
                  "the record made from a key passes the test against it");
    dkim::Entry entry{"example.test.", "s1", made, "/fuzz.key", 0, {}};
    dkim::render({entry}, dkim::Format::Zone, 3600, "record");
}

// Record text: a file of records, a tag list, a key record judged against a fixed key.
void recordText(std::string_view text) {
    try {
        dkim::findRecords(text, "fuzz.txt");
    } catch (const Error&) {
    }
    try {
        dkim::parseTagList(text);
    } catch (const Error&) {
    }
    try {
        dkim::parseKeyRecord(text);
    } catch (const Error&) {
    }
    dkim::looksLikeKeyRecord(text);
    dkim::judgeRecord(text, fixedKey(), "dkim-ed25519.pub");
    try {
        dkim::parseFlags(text);
    } catch (const Error&) {
    }
}

void publicDer(const std::uint8_t* data, std::size_t size) {
    const std::vector<std::uint8_t> spki = keys::spkiFromPublicDer({data, data + size});
    keys::algorithmOf(spki);
}

} // namespace

CDM_FUZZ_TARGET(dkim) {
    cdm::fuzz::quiet();
    const std::string_view text = cdm::fuzz::text(data, size);
    try {
        keyFile(text);
    } catch (const cdm::Error&) {
    }
    recordText(text);
    try {
        publicDer(data, size);
    } catch (const cdm::Error&) {
    }
    return 0;
}
