-- dm-crypt round trip: data written through a crypt device reads back the
-- same, is not in clear on the device below, survives a teardown and a new
-- mapping with the same key, and reads as garbage with another key. The
-- key stays hidden in d.table; a key the kernel refuses says why.
-- Self-checking: exits 0 only when all held.
--
--   scripts/sts-vm run scripts/examples/crypt-roundtrip.lua
local testkit = require "sts.testkit"
local sio = require "sts.io"
local errors = require "sts.errors"

local check, report = testkit.checks()
local MiB = 1024 * 1024
local OTHER_KEY = string.rep("fedcba9876543210", 8)

do
  local loops <close> = testkit.loop_devices(1, 16)
  do
    local c <close> = testkit.crypt{backing = loops[1]}
    check(sio.write_pattern(c.dev, {seed = 5, length = 4 * MiB}), "4 MiB written through dm-crypt")
    check(sio.verify_pattern(c.dev, {seed = 5, length = 4 * MiB}), "it reads back")
    check(not sio.verify_pattern(loops[1], {seed = 5, length = 4 * MiB}), "the loop below holds no clear text")
    check(not c.dev.table:find(c.key, 1, true), "d.table hides the key: " .. c.dev.table)
    check(c.dev:table_text{show_keys = true}:find(c.key, 1, true) ~= nil, "table_text{show_keys=true} shows it")
  end
  do
    local again <close> = testkit.crypt{backing = loops[1]}
    check(sio.verify_pattern(again.dev, {seed = 5, length = 4 * MiB}), "same key, new mapping: data back")
  end
  do
    local wrong <close> = testkit.crypt{backing = loops[1], key = OTHER_KEY}
    check(not sio.verify_pattern(wrong.dev, {seed = 5, length = 4 * MiB}), "another key reads garbage")
  end
  local ok, err = pcall(testkit.crypt, {backing = loops[1], key = "not-hex"})
  check(not ok and errors.is(err, "DeviceError"), "a bad key is refused")
  if not ok and not err.kernel_log_unavailable then
    print("refusal: " .. tostring(err))
    check(err.message:find("Error decoding and setting key", 1, true) ~= nil, "with the kernel's reason")
  end
end
os.exit(report())
