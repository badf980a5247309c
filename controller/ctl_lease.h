/*
 * Leader election with a coordination.k8s.io/v1 Lease, with client-go's
 * semantics and defaults (leaseDuration 15 s, renewDeadline 10 s,
 * retryPeriod 2 s):
 *
 * - acquire or renew = GET the Lease, then PUT it with the resourceVersion
 *   just read as precondition (or POST it when absent), so two candidates can
 *   never both win a round: the loser gets 409 Conflict;
 * - a Lease held by another identity is respected until leaseDuration has
 *   passed on OUR monotonic clock since we last saw its record change
 *   (client-go's observedTime), never by comparing its renewTime with our wall
 *   clock: clock skew between nodes does not matter;
 * - the leader renews every retryPeriod; if no renewal succeeded for
 *   renewDeadline it stops leading — without another request, so a process
 *   frozen (SIGSTOP, a long GC-like pause) past its deadline writes nothing
 *   when it wakes; a leader that sees another holder stops at once; the
 *   deadline is checked again between the GET and the PUT;
 * - losing leadership is final for this elector (it stops trying): the
 *   process is expected to exit, as controller-runtime's does;
 * - on a clean stop the leader releases the Lease as client-go does: one PUT
 *   with holderIdentity "" and leaseDurationSeconds 1, so a standby takes over
 *   at its next retry instead of waiting out the lease.
 *
 * All timing is by the injectable clock. ctl_lease_step runs one round and
 * says when the next is due, so tests drive two electors with a fake clock
 * deterministically; ctl_lease_start runs the same rounds on a thread.
 */
#ifndef QSO_CTL_LEASE_H
#define QSO_CTL_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_clock.h"
#include "k8s_client.h"

#define CTL_LEASE_DEFAULT_DURATION_MS 15000
#define CTL_LEASE_DEFAULT_RENEW_MS    10000
#define CTL_LEASE_DEFAULT_RETRY_MS    2000

struct ctl_lease_options {
    const char *lease_namespace; /* required */
    const char *lease_name;      /* required */
    const char *identity;        /* required; see ctl_lease_make_identity */
    int64_t lease_duration_ms;   /* 0: 15000 */
    int64_t renew_deadline_ms;   /* 0: 10000; must be < lease_duration */
    int64_t retry_period_ms;     /* 0: 2000; must be < renew_deadline */
    /* Called on the elector's thread (or the caller of ctl_lease_step), never
     * with a lock held. */
    void (*on_started_leading)(void *user);
    void (*on_stopped_leading)(void *user);
    void (*on_new_leader)(const char *identity, void *user); /* "" when released */
    void *user;
};

struct ctl_lease_status {
    int leading;                  /* currently leading (within the renew deadline) */
    int lost;                     /* was leading and stopped: final */
    char holder[256];             /* the holder last observed ("" if none) */
    int64_t last_contact_mono_ms; /* last time the API server answered; 0 if never */
    unsigned long acquisitions, renewals, failures;
};

struct ctl_lease;

/* Copies the options; the client and clock are borrowed. */
int ctl_lease_new(struct k8s_client *client, struct ctl_clock *clock,
                  const struct ctl_lease_options *opts, struct ctl_lease **out,
                  struct k8s_error *err);
/* Stops (releasing when leading) and frees. */
void ctl_lease_free(struct ctl_lease *le);

/* One round: try to acquire or renew; *next_mono_ms (may be NULL) says when
 * the next round is due. Returns 1 if leading after the round, else 0. Not to
 * be mixed with a running thread. */
int ctl_lease_step(struct ctl_lease *le, int64_t *next_mono_ms);

/* Runs rounds on a thread until ctl_lease_stop or leadership is lost. */
int ctl_lease_start(struct ctl_lease *le, struct k8s_error *err);
/* Stops the thread (if any) and, when still leading, releases the Lease.
 * Idempotent. */
void ctl_lease_stop(struct ctl_lease *le);
/* Releases the Lease if leading (one PUT); stops leading either way. */
int ctl_lease_release(struct ctl_lease *le);

/* Whether this elector leads now: it acquired the Lease, has not lost it, and
 * its last successful renewal started less than renewDeadline ago. Safe from
 * any thread; cheap (no request): the gate for every write. */
int ctl_lease_is_leader(struct ctl_lease *le);
void ctl_lease_get_status(struct ctl_lease *le, struct ctl_lease_status *out);
const char *ctl_lease_identity(const struct ctl_lease *le);

/* "<base>_<16 random hex digits>" into buf (base: the pod name or host name),
 * as controller-runtime makes its identities. 0 or K8S_EIO/K8S_EARG. */
int ctl_lease_make_identity(const char *base, char *buf, size_t cap);

#endif
