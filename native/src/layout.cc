// The wire layout as the C++ compiler sees custody_wire.h, so a test can
// compare it with the constants the TypeScript decoder uses.
#include "layout.h"

#include <cstddef>

#include "custody_wire.h"

namespace custody {
namespace {

class StructLayout {
 public:
  StructLayout(Napi::Env env, size_t size) : obj_(Napi::Object::New(env)), fields_(Napi::Object::New(env)) {
    obj_.Set("size", Napi::Number::New(env, static_cast<double>(size)));
    obj_.Set("fields", fields_);
  }
  StructLayout& Field(const char* name, size_t offset, size_t size) {
    Napi::Env env = obj_.Env();
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, static_cast<double>(offset)));
    pair.Set(1u, Napi::Number::New(env, static_cast<double>(size)));
    fields_.Set(name, pair);
    return *this;
  }
  Napi::Object Value() const { return obj_; }

 private:
  Napi::Object obj_;
  Napi::Object fields_;
};

#define STRUCT(S) StructLayout(env, sizeof(struct S))
#define F(S, M) Field(#M, offsetof(struct S, M), sizeof(((struct S*)nullptr)->M))

}  // namespace

Napi::Value Layout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object structs = Napi::Object::New(env);

  structs.Set("hdr", STRUCT(custody_hdr)
                         .F(custody_hdr, kind).F(custody_hdr, size).F(custody_hdr, flags)
                         .F(custody_hdr, cpu).F(custody_hdr, ts_ns).F(custody_hdr, start_ns)
                         .F(custody_hdr, cgroup_id).F(custody_hdr, tgid).F(custody_hdr, tid)
                         .F(custody_hdr, comm)
                         .Value());
  structs.Set("exec", STRUCT(custody_exec)
                          .F(custody_exec, hdr).F(custody_exec, parent_start_ns).F(custody_exec, ppid)
                          .F(custody_exec, uid).F(custody_exec, gid).F(custody_exec, euid)
                          .F(custody_exec, egid).F(custody_exec, argc).F(custody_exec, old_tid)
                          .F(custody_exec, filename_len).F(custody_exec, args_len)
                          .F(custody_exec, filename).F(custody_exec, args)
                          .Value());
  structs.Set("fork", STRUCT(custody_fork)
                          .F(custody_fork, hdr).F(custody_fork, child_start_ns)
                          .F(custody_fork, child_tgid).F(custody_fork, parent_tgid)
                          .Value());
  structs.Set("exit", STRUCT(custody_exit)
                          .F(custody_exit, hdr).F(custody_exit, status).F(custody_exit, leader)
                          .Value());
  structs.Set("tuple", STRUCT(custody_tuple)
                           .F(custody_tuple, family).F(custody_tuple, protocol).F(custody_tuple, sport)
                           .F(custody_tuple, dport).F(custody_tuple, saddr).F(custody_tuple, daddr)
                           .Value());
  structs.Set("sock", STRUCT(custody_sock)
                          .F(custody_sock, hdr).F(custody_sock, ret).F(custody_sock, fd)
                          .F(custody_sock, tuple).F(custody_sock, path_len).F(custody_sock, path)
                          .Value());
  structs.Set("tcp", STRUCT(custody_tcp)
                         .F(custody_tcp, hdr).F(custody_tcp, tuple).F(custody_tcp, oldstate)
                         .F(custody_tcp, newstate).F(custody_tcp, rst)
                         .Value());
  structs.Set("open", STRUCT(custody_open)
                          .F(custody_open, hdr).F(custody_open, ret).F(custody_open, dfd)
                          .F(custody_open, flags).F(custody_open, mode).F(custody_open, prefix_id)
                          .F(custody_open, path_len).F(custody_open, given_len).F(custody_open, path)
                          .F(custody_open, given)
                          .Value());
  structs.Set("ids", STRUCT(custody_ids)
                         .F(custody_ids, uid).F(custody_ids, euid).F(custody_ids, suid)
                         .F(custody_ids, fsuid).F(custody_ids, gid).F(custody_ids, egid)
                         .F(custody_ids, sgid).F(custody_ids, fsgid)
                         .Value());
  structs.Set("caps", STRUCT(custody_caps)
                          .F(custody_caps, effective).F(custody_caps, permitted).F(custody_caps, inheritable)
                          .Value());
  structs.Set("cred", STRUCT(custody_cred)
                          .F(custody_cred, hdr).F(custody_cred, op).F(custody_cred, ret)
                          .F(custody_cred, arg).F(custody_cred, old_ids).F(custody_cred, new_ids)
                          .F(custody_cred, old_caps).F(custody_cred, new_caps)
                          .Value());
  structs.Set("signal", STRUCT(custody_signal)
                            .F(custody_signal, hdr).F(custody_signal, sig).F(custody_signal, si_code)
                            .F(custody_signal, target_tgid).F(custody_signal, target_tid)
                            .F(custody_signal, target_start_ns).F(custody_signal, result)
                            .F(custody_signal, group)
                            .Value());
  structs.Set("counters", STRUCT(custody_counters)
                              .F(custody_counters, emitted).F(custody_counters, ring_full)
                              .F(custody_counters, rate_limited).F(custody_counters, filtered)
                              .Value());

  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("exec", CUSTODY_EV_EXEC);
  kinds.Set("fork", CUSTODY_EV_FORK);
  kinds.Set("exit", CUSTODY_EV_EXIT);
  kinds.Set("connect", CUSTODY_EV_CONNECT);
  kinds.Set("accept", CUSTODY_EV_ACCEPT);
  kinds.Set("tcp_state", CUSTODY_EV_TCP_STATE);
  kinds.Set("tcp_reset", CUSTODY_EV_TCP_RESET);
  kinds.Set("open", CUSTODY_EV_OPEN);
  kinds.Set("cred", CUSTODY_EV_CRED);
  kinds.Set("signal", CUSTODY_EV_SIGNAL);

  Napi::Object out = Napi::Object::New(env);
  out.Set("version", CUSTODY_WIRE_VERSION);
  out.Set("kindMax", CUSTODY_EV_MAX);
  out.Set("kinds", kinds);
  out.Set("structs", structs);
  return out;
}

}  // namespace custody
