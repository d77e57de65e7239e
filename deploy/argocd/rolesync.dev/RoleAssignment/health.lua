-- Argo CD health check for rolesync.dev RoleAssignments.
-- Ready=True -> Healthy; an expired grant (Ready=False, Expired) -> Healthy: it ended as asked;
-- paused, Observe-only, waiting for spec.notBefore (Scheduled) or a revocation held by the
-- config's revocation limit (RevocationThrottled) -> Suspended; outside what the provider
-- config allows (NotPermitted), or a failure retrying will not fix (Synced=False with a
-- terminal reason, or a Conflict) -> Degraded; anything else, including a status not yet
-- written for the current generation -> Progressing.
local hs = {}

-- Reasons rolesync does not retry its way out of: a person has to change something.
local terminal = {
  InvalidSpec = true,
  Unauthorized = true,
  NotFound = true,
  Rejected = true,
  InvalidProviderConfig = true,
  SecretNamespaceNotAllowed = true,
  ProviderMismatch = true,
  Conflict = true,
  NotPermitted = true,
}

local function condition(conditions, type)
  for _, c in ipairs(conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local annotations = (obj.metadata and obj.metadata.annotations) or {}
if annotations["rolesync.dev/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Reconciliation is paused by annotation rolesync.dev/paused"
  return hs
end

local policies = (obj.spec and obj.spec.managementPolicies) or {}
if #policies == 1 and policies[1] == "Observe" then
  hs.status = "Suspended"
  hs.message = "Observe-only: rolesync reports the remote assignment but never changes it"
  return hs
end

local status = obj.status or {}
local conditions = status.conditions or {}
local ready = condition(conditions, "Ready")
local synced = condition(conditions, "Synced")

-- Held until the config's hour allows it or an admin confirms: checked before the generation,
-- which a deletion moves on.
if synced ~= nil and synced.status == "False" and synced.reason == "RevocationThrottled" then
  hs.status = "Suspended"
  hs.message = describe(synced)
  return hs
end

if #conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for rolesync to reconcile"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for rolesync to observe generation " .. generation
  return hs
end

-- A grant the config no longer allows is left in place, and needs a person either way.
if synced ~= nil and synced.status == "False" and synced.reason == "NotPermitted" then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "Assigned (external ID " .. (status.externalID or "unknown") .. ")"
  return hs
end

if ready ~= nil and ready.reason == "Scheduled" then
  hs.status = "Suspended"
  hs.message = describe(ready)
  return hs
end

if ready ~= nil and ready.reason == "Expired" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if ready ~= nil and ready.reason == "Conflict" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end

if synced ~= nil and synced.status == "False" and terminal[synced.reason] then
  hs.status = "Degraded"
  hs.message = describe(synced)
  return hs
end

hs.status = "Progressing"
if synced ~= nil and synced.status == "False" then
  hs.message = describe(synced)
elseif ready ~= nil then
  hs.message = describe(ready)
else
  hs.message = "Waiting for rolesync to reconcile"
end
return hs
