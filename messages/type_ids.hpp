// The one place where dmoe registers its message types and atoms with CAF.
// Every node calls dmoe::register_types(cfg) (runtime/node_config does) so both ends of a
// connection know `dmoe::payload` under the same name.
#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "messages/payload.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(dmoe, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(dmoe, (dmoe::payload))
CAF_END_TYPE_ID_BLOCK(dmoe)

namespace dmoe {

// Protocol selectors: the first element of every dmoe request.
using dht_rpc_atom = caf::atom_constant<caf::atom("dht_rpc")>;
using expert_rpc_atom = caf::atom_constant<caf::atom("expert_rpc")>;
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using average_rpc_atom = caf::atom_constant<caf::atom("avg_rpc")>;
// Node-internal: every role actor (dht, server, router, trainer) answers `(stats_atom)` with its
// stats struct (runtime/stats_fields.hpp); the inspector renders these for dmoe-shell.
using stats_atom = caf::atom_constant<caf::atom("stats")>;

inline void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::dmoe>();
}

}  // namespace dmoe
