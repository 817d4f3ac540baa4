#pragma once

#include <memory>

#include "libcommon/provider.hpp"

// The factories of the providers, one a file in libcommon/provider/. The registry in
// libcommon/provider.cpp maps handler names to them.

namespace cdm::provider {

std::unique_ptr<Provider> makeRfc2136(const Settings& settings);
std::unique_ptr<Provider> makePowerdns(const Settings& settings);
std::unique_ptr<Provider> makeInwx(const Settings& settings);
std::unique_ptr<Provider> makeZonefile(const Settings& settings);

} // namespace cdm::provider
