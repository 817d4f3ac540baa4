// fuzz-replay: runs saved inputs through the fuzz targets without libFuzzer, so that every
// build (gcc or clang, with or without sanitizers) replays the corpora and the regressions.
//
//   fuzz-replay DIR                 every file of DIR/corpus/<target>/ and DIR/regressions/<target>/
//   fuzz-replay TARGET FILE...      the given files through one target
//
// A target returns normally for any input; an exception escaping it is reported here and
// makes the exit status 1. A crash, a sanitizer report or a failed invariant ends the process.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#define CDM_FUZZ_DECLARE(name) extern "C" int cdm_fuzz_##name(const std::uint8_t*, std::size_t);
CDM_FUZZ_DECLARE(ini)
CDM_FUZZ_DECLARE(record)
CDM_FUZZ_DECLARE(document)
CDM_FUZZ_DECLARE(acme)
CDM_FUZZ_DECLARE(dns)
CDM_FUZZ_DECLARE(tlsa)
CDM_FUZZ_DECLARE(dkim)

namespace {

struct Target {
    const char* name;
    int (*run)(const std::uint8_t*, std::size_t);
};

const Target targets[] = {
    {"ini", cdm_fuzz_ini},   {"record", cdm_fuzz_record}, {"document", cdm_fuzz_document},
    {"acme", cdm_fuzz_acme}, {"dns", cdm_fuzz_dns},       {"tlsa", cdm_fuzz_tlsa},
    {"dkim", cdm_fuzz_dkim},
};

// Runs one file; false when something escaped the target.
bool replay(const Target& target, const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::cerr << "fuzz-replay: unable to read " << file.string() << "\n";
        return false;
    }
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::cout << target.name << ": " << file.string() << std::endl;
    try {
        target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        return true;
    } catch (const std::exception& e) {
        std::cerr << "fuzz-replay: " << target.name << ": " << file.string()
                  << ": exception escaped: " << e.what() << "\n";
    } catch (...) {
        std::cerr << "fuzz-replay: " << target.name << ": " << file.string()
                  << ": unknown exception escaped\n";
    }
    return false;
}

std::vector<std::filesystem::path> filesIn(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    if (std::filesystem::is_directory(dir)) {
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            if (entry.is_regular_file()) {
                out.push_back(entry.path());
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: fuzz-replay DIR | fuzz-replay TARGET FILE...\n";
        return 64;
    }
    const std::string first = argv[1];
    const auto named = std::find_if(std::begin(targets), std::end(targets),
                                    [&](const Target& t) { return first == t.name; });
    std::size_t runs = 0;
    std::size_t failures = 0;
    if (named != std::end(targets)) {
        for (int i = 2; i < argc; ++i) {
            ++runs;
            failures += replay(*named, argv[i]) ? 0 : 1;
        }
    } else {
        for (const auto& target : targets) {
            std::size_t seen = 0;
            for (const char* kind : {"corpus", "regressions"}) {
                for (const auto& file : filesIn(std::filesystem::path(first) / kind / target.name)) {
                    ++runs;
                    ++seen;
                    failures += replay(target, file) ? 0 : 1;
                }
            }
            if (seen == 0) {
                // A target without inputs would pass without testing anything.
                std::cerr << "fuzz-replay: no inputs for " << target.name << " under " << first << "\n";
                ++failures;
            }
        }
    }
    std::cout << runs << " inputs replayed, " << failures << " failed" << std::endl;
    return failures == 0 ? 0 : 1;
}
