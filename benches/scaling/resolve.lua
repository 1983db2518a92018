-- wrk script: resolve hits on random people among the loaded ones.
-- Environment: CONTACTS_KEY (the API key), CONTACTS_PEOPLE (how many were loaded).
local key = os.getenv("CONTACTS_KEY")
local people = tonumber(os.getenv("CONTACTS_PEOPLE") or "20000")
math.randomseed(os.time())
request = function()
  local i = math.random(0, people - 1)
  local body = string.format('{"phone_number":"+1415%07d"}', i)
  return wrk.format("POST", "/v1/contacts/resolve",
    { ["authorization"] = key, ["content-type"] = "application/json" }, body)
end
