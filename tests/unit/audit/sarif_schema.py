"""The SARIF 2.1.0 objects nso-install writes, as a JSON Schema built from the specification
(OASIS SARIF 2.1.0, sections 3.13 sarifLog ... 3.35 suppression): the properties each object may
have, their types and enumerations, what is required, nothing else allowed -- the same
constraints the official schema states for these objects (it is not carried here; the test
needs no network)."""

from __future__ import annotations

_BAG = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True, "items": {"type": "string"}}}}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}


def _obj(props: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": {**props, "properties": _BAG},
            **({"required": list(required)} if required else {})}


MULTIFORMAT = _obj({"text": {"type": "string"}, "markdown": {"type": "string"}}, ("text",))
MESSAGE = {**_obj({"text": {"type": "string"}, "markdown": {"type": "string"}, "id": {"type": "string"},
                   "arguments": {"type": "array", "items": {"type": "string"}}}),
           "anyOf": [{"required": ["text"]}, {"required": ["id"]}]}
ARTIFACT_LOCATION = _obj({"uri": {"type": "string", "format": "uri-reference"}, "uriBaseId": {"type": "string"},
                          "index": {"type": "integer", "minimum": -1}, "description": MESSAGE})
LOCATION = _obj({"id": {"type": "integer", "minimum": -1},
                 "physicalLocation": _obj({"artifactLocation": ARTIFACT_LOCATION}), "message": MESSAGE})
REPORTING_CONFIGURATION = _obj({"enabled": {"type": "boolean"}, "level": _LEVEL,
                                "rank": {"type": "number", "minimum": -1, "maximum": 100}, "parameters": _BAG})
RULE = _obj({"id": {"type": "string"}, "name": {"type": "string"}, "shortDescription": MULTIFORMAT,
             "fullDescription": MULTIFORMAT, "help": MULTIFORMAT, "helpUri": {"type": "string", "format": "uri"},
             "defaultConfiguration": REPORTING_CONFIGURATION,
             "deprecatedIds": {"type": "array", "items": {"type": "string"}}}, ("id",))
TOOL_COMPONENT = _obj({"name": {"type": "string"}, "version": {"type": "string"},
                       "semanticVersion": {"type": "string"}, "informationUri": {"type": "string", "format": "uri"},
                       "organization": {"type": "string"},
                       "rules": {"type": "array", "uniqueItems": True, "items": RULE}}, ("name",))
SUPPRESSION = _obj({"kind": {"enum": ["inSource", "external"]},
                    "state": {"enum": ["accepted", "underReview", "rejected"]},
                    "justification": {"type": "string"}, "location": LOCATION}, ("kind",))
RESULT = _obj({"ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1},
               "kind": {"enum": ["notApplicable", "pass", "fail", "review", "open", "informational"]},
               "level": _LEVEL, "message": MESSAGE,
               "locations": {"type": "array", "items": LOCATION},
               "suppressions": {"type": "array", "uniqueItems": True, "items": SUPPRESSION},
               "rank": {"type": "number", "minimum": -1, "maximum": 100}}, ("message",))
# 3.27.10: "If kind has any value other than "fail", then if level is present, it SHALL have the
# value "none"" (a rule the official schema cannot state; this one does)
RESULT |= {"if": {"required": ["kind"], "properties": {"kind": {"not": {"const": "fail"}}}},
           "then": {"properties": {"level": {"const": "none"}}}}
# 3.58 notification (message required; level: 3.58.6)
NOTIFICATION = _obj({"message": MESSAGE, "level": _LEVEL, "locations": {"type": "array", "items": LOCATION},
                     "timeUtc": {"type": "string", "format": "date-time"}}, ("message",))
INVOCATION = _obj({"executionSuccessful": {"type": "boolean"}, "exitCode": {"type": "integer"},
                   "toolExecutionNotifications": {"type": "array", "items": NOTIFICATION},
                   "exitCodeDescription": {"type": "string"}, "commandLine": {"type": "string"},
                   "startTimeUtc": {"type": "string", "format": "date-time"},
                   "endTimeUtc": {"type": "string", "format": "date-time"}}, ("executionSuccessful",))
RUN = _obj({"tool": _obj({"driver": TOOL_COMPONENT, "extensions": {"type": "array", "items": TOOL_COMPONENT}},
                         ("driver",)),
            "invocations": {"type": "array", "items": INVOCATION},
            "results": {"type": "array", "items": RESULT}}, ("tool",))
SARIF_2_1_0 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object", "additionalProperties": False,
    "properties": {"$schema": {"type": "string", "format": "uri"}, "version": {"enum": ["2.1.0"]},
                   "runs": {"type": "array", "items": RUN}, "properties": _BAG},
    "required": ["version", "runs"],
}
