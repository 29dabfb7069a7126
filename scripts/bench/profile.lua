-- scripts/bench/profile.lua: where the time of workload 1 (create + remove of
-- linear devices) goes, run by stslua as root inside the sandbox guest
-- (make bench-profile).
--
--   profile.lua [N]
--
-- First the time of each ioctl stslua issues, per operation, over N devices
-- (default 100); then the kernel's own breakdown of a device's removal, from
-- the function_graph tracer: the functions under __dm_destroy, their
-- inclusive time (sleeping included) per removal. Every side of the
-- benchmark pays the kernel's part alike, so it bounds how far ahead of
-- dmsetup any caller can be.

local core = require("sts.core")
local loop = require("sts.loop")

local cdm, now_ms = core.dm, core.time.now_ms
local N = math.tointeger(tonumber(arg[1] or "100"))
if not N or N < 1 then
  io.stderr:write("usage: profile.lua [N]\n")
  os.exit(2)
end

local TRACING = "/sys/kernel/tracing"
-- below this many milliseconds per removal a kernel function is not shown
local SHOW_MS = 0.5

local function check(ok, msg)
  if not ok then error(msg, 2) end
  return ok
end

local function write_tracing(file, text)
  local f = assert(io.open(TRACING .. "/" .. file, "w"))
  assert(f:write(text))
  assert(f:close())
end

local function read_tracing(file)
  local f = assert(io.open(TRACING .. "/" .. file, "r"))
  local text = f:read("a")
  f:close()
  return text
end

local function own_pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("a"):match("^(%d+)")
  f:close()
  return pid
end

-- The functions the tracer patches: dm's own and the block layer's that a
-- removal waits in. Patching every function of the kernel (the tracer's
-- default) under TCG took 4 to 9 s and, in about one switch in five,
-- livelocked the guest (a soft lockup in the writing task, the RCU
-- kthread starved); with these few hundred it takes about 0.1 s.
local TRACED = {"__dm_destroy", "cleanup_mapped_device", "del_gendisk",
  "blk_mq_quiesce_queue", "blk_mq_freeze_queue", "blk_mq_freeze_queue_wait",
  "synchronize_rcu", "synchronize_rcu_expedited", "percpu_ref_kill_and_confirm",
  ":mod:dm_mod"}

-- adds each of TRACED to set_ftrace_filter (one write each: a write with a
-- name the kernel does not have fails whole); returns how many were taken
local function filter_traced()
  local taken = 0
  for _, name in ipairs(TRACED) do
    local f = assert(io.open(TRACING .. "/set_ftrace_filter", "a"))
    local ok = f:write(name)
    if f:close() and ok then taken = taken + 1 end
  end
  return taken
end

local function tracing_ready()
  if io.open(TRACING .. "/current_tracer", "r") then return true end
  local r = core.proc.run({"mount", "-t", "tracefs", "tracefs", TRACING})
  return r ~= nil and r.rc == 0 and io.open(TRACING .. "/current_tracer", "r") ~= nil
end

-- each ioctl of a create and of a remove, timed on its own -------------------

local backing = loop.create{size_mb = 1}
local rows = {{start = 0, size = 1, type = "linear", args = backing.path .. " 0"}}
local spent = {create = 0, load = 0, resume = 0, info = 0, remove = 0}

local function timed(phase, fn, ...)
  local t0 = now_ms()
  local ok, msg = fn(...)
  spent[phase] = spent[phase] + (now_ms() - t0)
  check(ok, msg)
end

for i = 1, N do
  local name = "bench-prof-" .. i
  timed("create", cdm.create, name, nil, nil)
  timed("load", cdm.load, name, rows)
  timed("resume", cdm.resume, name)
  timed("info", cdm.info, name)
end
for i = 1, N do timed("remove", cdm.remove, "bench-prof-" .. i) end

print(("ioctls of %d linear devices, ms per operation:"):format(N))
local pair = 0
for _, phase in ipairs{"create", "load", "resume", "info", "remove"} do
  print(("  %-8s %8.2f"):format(phase, spent[phase] / N))
  pair = pair + spent[phase] / N
end
print(("  %-8s %8.2f"):format("pair", pair))

-- what one dmsetup process costs beyond its ioctls: start, libdevmapper's
-- set-up and the one version ioctl; workload 1 starts two per pair
local STARTS = 10
local t0 = now_ms()
for _ = 1, STARTS do
  local r = core.proc.run({"dmsetup", "version"})
  check(r and r.rc == 0, "dmsetup version failed")
end
local start_ms = (now_ms() - t0) / STARTS
print(("a dmsetup process (dmsetup version): %.2f ms; a pair done by dmsetup costs"
  .. " about %.2f ms, %.2fx the ioctls alone"):format(
  start_ms, pair + 2 * start_ms, (pair + 2 * start_ms) / pair))

-- the kernel's breakdown of a removal ----------------------------------------

-- One line of function_graph output (funcgraph-tail and -proc on) made by
-- this process, as "open", "leaf" or "close", the function's name and, but
-- for "open", its inclusive time in ms. Other tasks' lines are left out
-- (their returns from schedule() as the CPU switches to them).
local function graph_line(line, comm_pid)
  local task, rest = line:match("^%s*%d+%)%s*(%S+)%s*|(.*)$")
  if task ~= comm_pid then return nil end
  local us, body = rest:match("([%d%.]+) us%s*|%s*(.-)%s*$")
  if not us then body = rest:match("|%s*(.-)%s*$") end
  if not body then return nil end
  -- a module's functions carry its name: "linear_dtr [dm_mod]()"
  local name = body:match("^([%w_%.]+)[^(]*%(%) {$")
  if name then return "open", name end
  name = body:match("^([%w_%.]+)[^(]*%(%);$")
  if name and us then return "leaf", name, tonumber(us) / 1000 end
  name = body:match("^} /%* ([%w_%.]+)")
  if name and us then return "close", name, tonumber(us) / 1000 end
  return nil
end

-- The calls of a trace as a tree: node = {name=, ms=, children={name=node}}.
local function call_tree(trace, comm_pid)
  local root = {children = {}}
  local stack = {root}
  local function child(parent, name)
    local node = parent.children[name]
    if not node then
      node = {name = name, ms = 0, children = {}}
      parent.children[name] = node
    end
    return node
  end
  for line in trace:gmatch("[^\n]+") do
    local kind, name, ms = graph_line(line, comm_pid)
    if kind == "open" then
      stack[#stack + 1] = child(stack[#stack], name)
    elseif kind == "leaf" then
      local node = child(stack[#stack], name)
      node.ms = node.ms + ms
    elseif kind == "close" then
      -- a call whose return the trace lost is closed with its caller
      local at = #stack
      while at > 1 and stack[at].name ~= name do at = at - 1 end
      if at > 1 then
        stack[at].ms = stack[at].ms + ms
        for i = #stack, at, -1 do stack[i] = nil end
      end
    end
  end
  return root
end

local function print_tree(node, depth, per)
  local list = {}
  for _, c in pairs(node.children) do list[#list + 1] = c end
  table.sort(list, function(a, b) return a.ms > b.ms end)
  for _, c in ipairs(list) do
    if c.ms / per >= SHOW_MS then
      print(("  %-40s %8.2f"):format(("  "):rep(depth) .. c.name, c.ms / per))
      print_tree(c, depth + 1, per)
    end
  end
end

if not tracing_ready() then
  print("no tracefs in this kernel: the kernel's breakdown is left out")
else
  local traced = math.min(N, 20)
  for i = 1, traced do check(cdm.create("bench-prof-" .. i, rows, nil)) end
  -- everything set before the tracer is switched on, so that it patches
  -- only the filtered functions
  write_tracing("tracing_on", "0")
  check(filter_traced() > 0, "set_ftrace_filter took none of the functions to trace")
  write_tracing("set_graph_function", "__dm_destroy")
  write_tracing("max_graph_depth", "4")
  write_tracing("options/funcgraph-tail", "1")
  write_tracing("options/funcgraph-irqs", "0")
  write_tracing("options/funcgraph-proc", "1")
  write_tracing("current_tracer", "function_graph")
  write_tracing("trace", "")
  write_tracing("tracing_on", "1")
  for i = 1, traced do check(cdm.remove("bench-prof-" .. i)) end
  write_tracing("tracing_on", "0")
  -- comm is cut to its first 7 characters in these lines
  local comm_pid = ("stslua"):sub(1, 7) .. "-" .. own_pid()
  local tree = call_tree(read_tracing("trace"), comm_pid)
  write_tracing("current_tracer", "nop")
  write_tracing("set_graph_function", "")
  write_tracing("set_ftrace_filter", "")
  write_tracing("tracing_on", "1")
  print(("inside the kernel's removal (__dm_destroy), ms per device over %d:"):format(traced))
  print_tree(tree, 0, traced)
end

backing:remove()
