/*
 * A model of rcu::Domain's read-side / grace-period handshake (rcu/internal/read_side.h, grace_periods.cc), checked
 * with spin by //tests/model:grace_period_model_test.
 *
 * Memory model: x86-TSO, the only reordering the design defends against. Each reader's stores go
 * through a FIFO store buffer that drains to memory at any time; its loads read memory (its own
 * buffered stores are never reloaded here). The writer is sequentially consistent (it issues
 * fences). membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full barrier on every thread of the
 * process: modeled as draining every reader's store buffer, atomically.
 *
 * What runs:
 *   Reader (twice): registers (a locked RMW: a full barrier), then enters a section: loads the
 *     epoch, stores its counter (buffered), loads the published pointer and uses the object it
 *     points to, and leaves (stores 0, buffered). The object must not be freed while it is used.
 *   Writer: unpublishes the old object, then runs a grace period as RunGracePeriod() does:
 *     if any reader is registered, membarrier, advance the epoch, and wait for every reader whose
 *     counter is non-zero and below the new epoch; then frees the old object.
 *
 * Busted twins (compile with -D...): BUSTED_NO_MEMBARRIER skips the membarrier; BUSTED_NO_WAIT
 * skips the wait. Each must yield an assertion violation: a reader uses a freed object.
 *
 * Not modeled: nesting (inner sections touch nothing), more than two readers, the sleep/wake
 * path of a waiting grace period (it only delays the wait), the fallback mode (readers use
 * atomic exchanges: sequentially consistent), and ARM's weaker ordering.
 */

#define NREADERS 2

byte epoch = 1;
byte ctr[NREADERS];            /* reader counters in memory */
chan sb[NREADERS] = [2] of { byte };  /* each reader's store buffer (ctr stores) */
bool registered[NREADERS];
bool unpublished = false;      /* the published pointer now points to the new object */
bool freed = false;            /* the old object has been freed */

inline drain(i) {
  byte v;
  do
  :: nempty(sb[i]) -> sb[i]?v; ctr[i] = v
  :: empty(sb[i]) -> break
  od
}

/* The hardware drains store buffers whenever it likes. */
active [NREADERS] proctype Drainer() {
  byte v;
end:  /* idling here, with an empty buffer, is a valid end state */
  do
  :: atomic { nempty(sb[_pid]) -> sb[_pid]?v; ctr[_pid] = v }
  od
}

proctype Reader(byte i) {
  byte e;
  bool holds_old;
  atomic { drain(i); registered[i] = true }   /* first section: registration, a locked RMW */
  e = epoch;                                   /* lock(): epoch, relaxed load */
  sb[i]!e;                                     /*         ctr = epoch, buffered store */
  holds_old = !unpublished;                    /* Read(): load the published pointer */
  assert(!(holds_old && freed));               /* use the object */
  assert(!(holds_old && freed));               /* ...and again, later in the section */
  sb[i]!0                                      /* unlock(): ctr = 0, buffered store */
}

active proctype Writer() {
  byte target;
  byte i;
  unpublished = true;                          /* Exchange(new): the old object is unreachable */
  /* RunGracePeriod(): gp_seq_ exchange (a full barrier for the writer: SC here) */
  if
  :: registered[0] || registered[1] ->
#ifndef BUSTED_NO_MEMBARRIER
     atomic { drain(0); drain(1) };            /* HeavyFence(): membarrier */
#endif
     epoch = epoch + 1;
     target = epoch;
#ifndef BUSTED_NO_WAIT
     i = 0;
     do
     :: i < NREADERS -> (ctr[i] == 0 || ctr[i] >= target); i++
     :: i == NREADERS -> break
     od;
#endif
     skip
  :: else -> skip                              /* nobody registered: nothing to wait for */
  fi;
  freed = true                                 /* delete old */
}

init {
  atomic {
    run Reader(0);
    run Reader(1)
  }
}
