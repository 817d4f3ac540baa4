#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "libcommon/error.hpp"

// The DKIM part of the three phases, on the pipeline document (DESIGN.md, cdm-json(5)):
// - prepare: a new key and selector per [dkim:NAME] that a domain links with `auto`, under
//   <statedir>/modules/dkim/NAME/, recorded as material.dkim.NAME.next; its record is added
//   for every linking domain beside the current one's.
// - rollover: the next key is deployed (keylocation/keyname, 0600, atomically) with the
//   signing configuration (signingconfdestinationfile, the rspamd template); next becomes
//   current, and current becomes previous, stamped with the time it retired.
// - cleanup: the previous selector stays published for its grace period (mail in queues is
//   still verified against it; default 88 hours as dkim-rotate), is then replaced by a
//   revoked record (empty p=) for the revocation period (default 24 hours), and is then
//   deleted, with its key. Only the previous selector's own name is touched.
// Material is carried in the document; cdm-phase keeps it in the state file between runs.

namespace cdm::dkimphase {

struct Summary {
    std::size_t generated = 0;
    std::size_t deployed = 0;
    std::size_t records = 0;      // records added to the document
    std::optional<Error> failure; // the first section that failed
};

// Run `phase` ("prepare", "rollover", "cleanup"; anything else does nothing) at time `now`.
// Each section stands alone: one that fails (Error(Exit::Config) for a bad [dkim:NAME] value,
// Error(Exit::CantCreat/IoErr/NoPerm) when a key or configuration cannot be written,
// Error(Exit::DataErr) for bad material) keeps its material and records as they were, is
// reported "failed" and logged, and the others go on; `failure` holds the first such error,
// for the caller to exit with after writing the document.
Summary run(boost::json::object& document, const std::string& phase, std::time_t now);

// "88h", "4d", "30m", "3600" (seconds) -> seconds; throws Error(Exit::Config) naming `what`.
std::int64_t parseDuration(const std::string& text, const std::string& what);

} // namespace cdm::dkimphase
