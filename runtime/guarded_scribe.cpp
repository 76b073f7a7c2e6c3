// The wire guard's scribe: every BASP frame a peer sends, checked before the broker reads it
// (runtime/wire_guard.hpp).
#include <algorithm>
#include <optional>

#include <caf/io/basp/header.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/scribe_impl.hpp>

#include <sys/socket.h>

#include "runtime/peer_identity.hpp"
#include "runtime/tls_scribe.hpp"
#include "runtime/wire_guard_state.hpp"

namespace dmoe::wire_guard_detail {

namespace {

namespace basp = caf::io::basp;
namespace network = caf::io::network;

// The guard over either scribe: CAF's plain one (network::scribe_impl) or tls_scribe.
template <class Base>
class guarded_scribe_impl final : public Base {
public:
  template <class... BaseArgs>
  guarded_scribe_impl(network::default_multiplexer& mx, network::native_socket fd,
                      const caf::node_id& self, bool outgoing, BaseArgs&&... base_args)
    : Base(mx, fd, std::forward<BaseArgs>(base_args)...), state_(state_of(self)) {
    std::lock_guard<std::mutex> lock{state_->mutex};
    if (outgoing) {
      state_->own_dials.push_back(local_endpoint(fd));
      if (state_->own_dials.size() > remembered_dials)
        state_->own_dials.pop_front();
    }
    log_ = log::get(state_->options.log_name);
    fd_ = fd;
    dial_unseen_ = outgoing;
    address_ = remote_address(fd);
    max_unsent_ = state_->options.max_unsent_bytes;
    if (!outgoing) {
      connection_ = std::make_shared<accepted_connection>();
      connection_->fd = fd;
      connection_->address = address_;
      connection_->since = std::chrono::steady_clock::now();
      state_->accepted.push_back(connection_);
    }
    auto state = state_;
    check_.emplace(
      self, state_->options.max_frame_bytes,
      [state](caf::actor_id id) {
        std::lock_guard<std::mutex> lock{state->mutex};
        return state->accepting.count(id) > 0;
      },
      [state](const caf::node_id& peer, caf::actor_id id, uint64_t request) {
        std::lock_guard<std::mutex> lock{state->mutex};
        return state->awaiting.answered(peer, id, request);
      });
  }

  ~guarded_scribe_impl() override {
    std::lock_guard<std::mutex> lock{state_->mutex};
    state_->pending_frame_bytes -= collected_.size();
    if (auto i = state_->identities.find(check_->peer());
        i != state_->identities.end() && i->second.connection == this)
      state_->identities.erase(i);
    if (connection_) {
      auto& all = state_->accepted;
      all.erase(std::remove(all.begin(), all.end(), connection_), all.end());
    }
  }

  /// With TLS: the member the peer's certificate names, once its handshake is done (empty
  /// before); without, the peer is who its address says.
  void identify_by_member(std::shared_ptr<const std::string> member) {
    member_ = std::move(member);
  }

  /// A peer that lets more than max_unsent_bytes pile up is disconnected: what waits is
  /// dropped and the socket shut down, so the stream ends the usual way.
  /// What the broker writes is staged here until it flushes, to note its requests first.
  std::vector<char>& wr_buf() override {
    return staged_;
  }

  void flush() override {
    note_requests();
    auto& unsent = Base::wr_buf();
    if (unsent.empty())
      unsent.swap(staged_);
    else
      unsent.insert(unsent.end(), staged_.begin(), staged_.end());
    staged_.clear();
    if (unsent.size() > max_unsent_ && !shut_) {
      shut_ = true;
      warn_throttled(*state_, "unread", {}, *log_,
                     "closing the connection to " + peer() + ": "
                       + std::to_string(unsent.size()) + " bytes wait for a peer that does not "
                       "read them (limits.max-unsent-bytes)");
      std::vector<char>{}.swap(unsent);
      ::shutdown(fd_, SHUT_RDWR);
      return;
    }
    if (shut_) {
      std::vector<char>{}.swap(unsent);
      return;
    }
    Base::flush();
  }

  /// Reads of more than read_chunk bytes go in chunks (see collect).
  void configure_read(caf::io::receive_policy::config config) override {
    if (dial_unseen_) {
      dial_unseen_ = false;
      mark_dial_seen();
    }
    drop_collected();
    if (config.first == caf::io::receive_policy_flag::exactly && config.second > read_chunk) {
      awaited_ = config.second;
      Base::configure_read(caf::io::receive_policy::exactly(read_chunk));
      return;
    }
    awaited_ = 0;
    Base::configure_read(config);
  }

  bool consume(caf::execution_unit* ctx, const void* buf, size_t size) override {
    if (awaited_ > 0) {
      switch (collect(static_cast<const char*>(buf), size)) {
        case collected::more:
          return true;
        case collected::over_budget:
          drop_collected();  // at once: the budget is for the connections that go on
          this->io_failure(ctx, network::operation::read);
          return false;
        case collected::all:
          buf = this->rd_buf().data();
          size = this->rd_buf().size();
      }
    }
    auto handled = inspect(ctx, buf, size);
    if (this->rd_buf().capacity() > read_chunk)
      this->rd_buf() = {};  // a big frame's buffer goes; the stream sizes the next read's
    return handled;
  }

private:
  enum class collected { more, all, over_budget };

  /// The requests in the staged bytes, whose replies the peer's node may then send.
  void note_requests() {
    auto requests = check_->sent(staged_.data(), staged_.size());
    if (requests.empty())
      return;
    std::lock_guard<std::mutex> lock{state_->mutex};
    for (const auto& r : requests)
      state_->awaiting.sent(check_->peer(), r.from, r.request);
  }

  /// Adds a chunk of the awaited payload; once all of it is in, it is the read buffer (which
  /// scribe::consume hands to the broker, whatever pointer it is given).
  collected collect(const char* bytes, size_t size) {
    std::optional<uint64_t> over;  // the bytes held when this chunk would pass the budget
    {
      std::lock_guard<std::mutex> lock{state_->mutex};
      if (state_->pending_frame_bytes + size > state_->options.max_pending_frame_bytes)
        over = state_->pending_frame_bytes;
      else
        state_->pending_frame_bytes += size;
    }
    if (over) {
      warn_throttled(*state_, "over budget", {}, *log_,
                     "closing the connection from " + peer() + ": frames still arriving hold "
                       + std::to_string(*over) + " bytes (limits.max-pending-frame-bytes)");
      return collected::over_budget;
    }
    collected_.insert(collected_.end(), bytes, bytes + size);
    if (collected_.size() < awaited_) {
      Base::configure_read(caf::io::receive_policy::exactly(
        std::min(read_chunk, awaited_ - collected_.size())));
      return collected::more;
    }
    {
      std::lock_guard<std::mutex> lock{state_->mutex};
      state_->pending_frame_bytes -= collected_.size();
    }
    awaited_ = 0;
    this->rd_buf() = std::move(collected_);
    collected_ = {};
    return collected::all;
  }

  /// CAF's broker takes a connection it dialed as last heard from at the clock's epoch until
  /// the peer's handshake is read, so a heartbeat tick handled in between (the broker's connect
  /// and the next read event) closes it as silent (connection_timeout). Called as the broker
  /// starts reading (within its connect), this counts the connection as heard from now: the
  /// peer has connection-timeout to send its handshake.
  void mark_dial_seen() {
    auto* broker = dynamic_cast<caf::io::basp_broker*>(this->parent());
    if (broker == nullptr)
      return;
    auto i = broker->ctx.find(this->hdl());
    if (i != broker->ctx.end() && i->second.last_seen == caf::actor_clock::time_point{})
      i->second.last_seen = broker->clock().now();
  }

  void drop_collected() {
    if (collected_.empty())
      return;
    {
      std::lock_guard<std::mutex> lock{state_->mutex};
      state_->pending_frame_bytes -= collected_.size();
    }
    collected_ = {};
  }

  bool inspect(caf::execution_unit* ctx, const void* buf, size_t size) {
    using action = basp_frame_check::action;
    const auto* bytes = static_cast<const char*>(buf);
    auto verdict = check_->check(bytes, size);
    if (check_->handshake_seen() && !handshaken_) {
      handshaken_ = true;
      std::lock_guard<std::mutex> lock{state_->mutex};
      if (connection_)
        connection_->handshaken = true;
      // The first connection to name a node says who it is (CAF routes through that one).
      auto who = member_ ? member_identity(*member_) : address_identity(address_);
      state_->identities.emplace(check_->peer(), guard_state::identity{std::move(who), this});
    }
    switch (verdict.what) {
      case action::deliver:
        return caf::io::scribe::consume(ctx, buf, size);
      case action::hold:
        held_.assign(bytes, bytes + size);
        read_next(check_->next_read());
        return true;
      case action::release:
        return release(ctx, bytes, size);
      case action::skip:
        note_dropped(verdict);
        read_next(check_->next_read());
        return true;
      case action::drop:
        if (!verdict.why.empty())
          note_dropped(verdict);
        read_next(basp::header_size);
        return true;
      case action::close:
        break;
    }
    // A node dialing itself sends its own id too (the dial-back check at start).
    auto what = "closing the connection from " + peer() + ": " + log::escaped(verdict.why, 512);
    if (verdict.own_id && dialed_by_this_node())
      log_->debug("{}", what);
    else
      warn_throttled(*state_, "closed", verdict.why, *log_, what);
    // CAF's own path for a failed read: the broker learns the connection is gone.
    this->io_failure(ctx, network::operation::read);
    return false;
  }

  // The reason may quote the peer's bytes (type names): escaped and cut.
  void note_dropped(const basp_frame_check::verdict& verdict) {
    auto what = "dropped a message from " + peer() + ": " + log::escaped(verdict.why, 512);
    if (verdict.routine)
      log_->debug("{}", what);
    else
      warn_throttled(*state_, "dropped", verdict.why, *log_, what);
  }

  static std::string local_endpoint(network::native_socket fd) {
    auto host = network::local_addr_of_fd(fd);
    auto port = network::local_port_of_fd(fd);
    return host && port ? *host + ":" + std::to_string(*port) : std::string{};
  }

  std::string peer() const {
    return this->addr() + ":" + std::to_string(this->port());
  }

  bool dialed_by_this_node() const {
    std::lock_guard<std::mutex> lock{state_->mutex};
    const auto& dials = state_->own_dials;
    return std::find(dials.begin(), dials.end(), peer()) != dials.end();
  }

  void read_next(size_t bytes) {
    configure_read(caf::io::receive_policy::exactly(bytes));
  }

  /// Hands the held header and then `payload` to the broker, as if read one after the other.
  /// (scribe::consume hands over the read buffer, whatever pointer it is given.)
  bool release(caf::execution_unit* ctx, const char* payload, size_t size) {
    std::vector<char> body;
    if (payload == this->rd_buf().data() && size == this->rd_buf().size())
      body.swap(this->rd_buf());  // big replies pass here: no copy
    else
      body.assign(payload, payload + size);
    this->rd_buf() = std::move(held_);
    held_ = {};
    if (!caf::io::scribe::consume(ctx, nullptr, basp::header_size) || this->detached())
      return false;
    this->rd_buf() = std::move(body);
    return caf::io::scribe::consume(ctx, nullptr, size);
  }

  std::shared_ptr<guard_state> state_;
  std::shared_ptr<spdlog::logger> log_;
  std::optional<basp_frame_check> check_;
  std::vector<char> held_;  // a header kept from the broker until its payload is checked
  std::vector<char> staged_;  // written by the broker since its last flush
  size_t awaited_ = 0;        // bytes of a payload read in chunks (0: none)
  std::vector<char> collected_;  // its bytes so far
  std::shared_ptr<accepted_connection> connection_;  // accepted connections only
  std::string address_;  // the peer's IP address
  std::shared_ptr<const std::string> member_;  // with TLS: the peer's certificate's name
  bool handshaken_ = false;
  int fd_ = -1;
  bool dial_unseen_ = false;  // dialed, and mark_dial_seen not called yet
  uint64_t max_unsent_ = 0;
  bool shut_ = false;  // shut down for not reading: nothing more is queued
};

/// A TLS scribe for `fd`: over the session its dial secured (`dialed`), or (accepted) a new one
/// whose handshake it runs, logging who came in or why not.
caf::io::scribe_ptr make_tls_scribe(network::default_multiplexer& mx, int fd, bool outgoing,
                                    const tls_context& tls, ssl_ptr dialed,
                                    const std::string& log_name) {
  const auto& self = mx.system().node();
  using guarded_tls = guarded_scribe_impl<tls_scribe>;
  if (outgoing) {
    if (!dialed)
      log::get(log_name)->error("a dialed connection without its TLS session: closing it");
    auto member = std::make_shared<const std::string>(dialed ? tls_peer_name(dialed.get()) : "");
    auto scribe = caf::make_counted<guarded_tls>(mx, fd, self, true, std::move(dialed), true,
                                                 nullptr);
    scribe->identify_by_member(std::move(member));
    return scribe;
  }
  // Set when the handshake proves membership, before any BASP byte is read.
  auto member = std::make_shared<std::string>();
  auto peer_port = network::remote_port_of_fd(fd);
  auto where = remote_address(fd) + ":" + (peer_port ? std::to_string(*peer_port) : "?");
  auto report = [log = log::get(log_name), where, state = state_of(self),
                 member](const tls_policy::outcome& result) {
    if (result.ok) {
      *member = result.detail;
      log->debug("swarm member '{}' connected from {}", log::escaped(result.detail), where);
    } else if (result.silent)  // a port probe, a health check
      log->debug("{} closed the connection before its TLS handshake", where);
    else
      warn_throttled(*state, "refused member", result.detail, *log,
                     "refused a connection from " + where + ": " + log::escaped(result.detail));
  };
  auto scribe = caf::make_counted<guarded_tls>(mx, fd, self, false, tls.session(fd, true), false,
                                               std::move(report));
  scribe->identify_by_member(std::move(member));
  return scribe;
}

}  // namespace

caf::io::scribe_ptr make_scribe(network::default_multiplexer& mx, int fd, bool outgoing) {
  network::keepalive(fd, true);
  network::tcp_nodelay(fd, true);  // RPCs, not streams
  auto state = state_of(mx.system().node());
  std::shared_ptr<const tls_context> tls;
  ssl_ptr dialed;
  std::string log_name;
  {
    std::lock_guard<std::mutex> lock{state->mutex};
    tls = state->options.tls;
    log_name = state->options.log_name;
    if (auto i = state->secured_dials.find(fd); outgoing && i != state->secured_dials.end()) {
      dialed = std::move(i->second);
      state->secured_dials.erase(i);
    }
  }
  if (tls)
    return make_tls_scribe(mx, fd, outgoing, *tls, std::move(dialed), log_name);
  return caf::make_counted<guarded_scribe_impl<network::scribe_impl>>(mx, fd, mx.system().node(),
                                                                      outgoing);
}

}  // namespace dmoe::wire_guard_detail
