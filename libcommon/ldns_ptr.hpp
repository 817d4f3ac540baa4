#pragma once

#include <memory>

#include <ldns/ldns.h>

#include "libcommon/deleter.hpp"

// ldns handles in RAII: no ldns_*_free call appears outside this header.

namespace cdm::ldnsp {

using cdm::Deleter;

using Resolver = std::unique_ptr<ldns_resolver, Deleter<ldns_resolver_deep_free>>;
using Pkt = std::unique_ptr<ldns_pkt, Deleter<ldns_pkt_free>>;
using Rdf = std::unique_ptr<ldns_rdf, Deleter<ldns_rdf_deep_free>>;
using Rr = std::unique_ptr<ldns_rr, Deleter<ldns_rr_free>>;
using RrList = std::unique_ptr<ldns_rr_list, Deleter<ldns_rr_list_deep_free>>;
using Buffer = std::unique_ptr<ldns_buffer, Deleter<ldns_buffer_free>>;

} // namespace cdm::ldnsp
