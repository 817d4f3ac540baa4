#pragma once

// A deleter for std::unique_ptr that calls a C library's free function: the one place the
// RAII aliases of libcommon/ossl.hpp and libcommon/ldns_ptr.hpp are built from.

namespace cdm {

template <auto Free>
struct Deleter {
    template <typename T>
    void operator()(T* p) const {
        Free(p);
    }
};

} // namespace cdm
