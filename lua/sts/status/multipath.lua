--- sts.status.multipath: status of the multipath target.
-- Internal to sts.status; the public API is in sts.status.

local M = {}

local GROUP_STATES = {"A", "E", "D"}
local PATH_STATES = {"A", "F"}

--- multipath:
--   <#features> <features>* <#hw handler args> <hw handler args>*
--   <#groups> <next group number>
--   then per priority group:
--     <A|E|D> <#selector args> <selector args>* <#paths> <#selector args per path>
--     then per path: <device> <A|F> <fail count> <selector args per path>*
-- In a status line the features are always two numbers, whether I/O is
-- being queued (older kernels: how many I/Os are queued) and how many
-- times path group initialisation ran. A group is A (the one in use),
-- E (enabled) or D (disabled by a message); a path is A (active) or F
-- (failed).
function M.multipath(r, st)
  st.features = r:counted("features")
  if #st.features == 2 then
    local queue_io = r.integer_of(st.features[1])
    local pg_init_count = r.integer_of(st.features[2])
    if queue_io == nil or pg_init_count == nil then
      r:fail("bad features %q %q (expected two integers)", st.features[1], st.features[2])
    end
    st.queue_io, st.pg_init_count = queue_io, pg_init_count
    st.queueing = queue_io > 0
  end
  st.hw_handler_args = r:counted("hw handler args")
  st.hw_handler = st.hw_handler_args[1]

  st.nr_groups = r:integer("number of path groups")
  st.next_group = r:integer("next path group")
  if st.next_group > st.nr_groups then
    r:fail("next path group %d is beyond the %d groups", st.next_group, st.nr_groups)
  end

  st.groups, st.paths = {}, {}
  st.active_paths, st.failed_paths = 0, 0
  for g = 1, st.nr_groups do
    local where = string.format("path group %d", g)
    local group = {number = g}
    group.state = r:choice(where .. " state", GROUP_STATES)
    group.current = group.state == "A"
    group.disabled = group.state == "D"
    group.selector_args = r:counted(where .. " selector args")
    group.nr_paths = r:integer(where .. " number of paths")
    local per_path = r:integer(where .. " selector args per path")
    group.paths = {}
    for p = 1, group.nr_paths do
      local pwhere = string.format("%s path %d", where, p)
      local path = {group = g}
      path.device = r:word(pwhere .. " device")
      path.state = r:choice(pwhere .. " state", PATH_STATES)
      path.active = path.state == "A"
      path.fail_count = r:integer(pwhere .. " fail count")
      path.selector_args = {}
      for i = 1, per_path do path.selector_args[i] = r:word(pwhere .. " selector arg") end
      group.paths[p] = path
      st.paths[#st.paths + 1] = path
      if path.active then
        st.active_paths = st.active_paths + 1
      else
        st.failed_paths = st.failed_paths + 1
      end
    end
    st.groups[g] = group
  end
  r:finish()
  return st
end

return M
