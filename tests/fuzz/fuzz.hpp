#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libcommon/fsutil.hpp"
#include "libcommon/log.hpp"

// Shared by the libFuzzer targets of this directory. Each target is one file defining
// CDM_FUZZ_TARGET(name) { ... }: built alone it is LLVMFuzzerTestOneInput, the function
// libFuzzer calls; built into fuzz-replay (CDM_FUZZ_REPLAY) every target gets its own name,
// cdm_fuzz_<name>, so that one program replays the corpora and regressions of all of them.
//
// A target catches cdm::Error, the one exception libcommon throws for bad input. Anything
// else that escapes (boost::system::system_error from a JSON accessor on the wrong type,
// std::out_of_range, ...) is a finding, as are sanitizer reports and failed invariants.

// Each is declared before it is defined, for -Wmissing-declarations.
#ifdef CDM_FUZZ_REPLAY
#define CDM_FUZZ_TARGET(name)                                                                  \
    extern "C" int cdm_fuzz_##name(const std::uint8_t* data, std::size_t size);                \
    extern "C" int cdm_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define CDM_FUZZ_TARGET(name)                                                                  \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);         \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace cdm::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Warnings about the input are expected by the thousand; they would only slow the run.
inline void quiet() {
    static const bool done = [] {
        log::setSink([](std::string_view) {});
        return true;
    }();
    (void)done;
}

// An invariant the code promises (a canonical form reads back as itself, ...): a failure
// aborts, which libFuzzer reports as a crash with the input.
inline void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "cdm fuzz: invariant failed: %s\n", what);
        std::abort();
    }
}

// A file under the source tree (CDM_FUZZ_DATA): certificates and keys the targets compare
// input against.
inline std::string testData(const std::string& name) {
    return fsutil::readFile(std::string(CDM_FUZZ_DATA) + "/" + name, 1024 * 1024);
}

} // namespace cdm::fuzz
