/*
 * State kept on disk so a stopped simulator restarts with its objects, its
 * resourceVersion counter and its tokens: <state_dir>/state.json, rewritten
 * atomically shortly after changes and at shutdown. The watch history is not
 * kept, so a watch from a version before the restart gets 410 Expired, as
 * after an etcd compaction.
 */
#ifndef QSO_SIM_PERSIST_H
#define QSO_SIM_PERSIST_H

struct sim_server;

int sim_persist_save(struct sim_server *srv);
/* Loads the state file when present; 0 when absent or loaded. */
int sim_persist_load(struct sim_server *srv);

#endif
