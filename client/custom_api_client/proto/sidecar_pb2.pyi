from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    AUTHENTICATION_FAILED: _ClassVar[ErrorCode]
    ENDPOINT_NOT_FOUND: _ClassVar[ErrorCode]
    TIMEOUT: _ClassVar[ErrorCode]
    RATE_LIMITED: _ClassVar[ErrorCode]
    SSL_ERROR: _ClassVar[ErrorCode]
    CONNECTION_REFUSED: _ClassVar[ErrorCode]
    SCHEMA_MISMATCH: _ClassVar[ErrorCode]
    UNKNOWN_API: _ClassVar[ErrorCode]
    UNKNOWN_OPERATION: _ClassVar[ErrorCode]
    INVALID_ARGUMENT: _ClassVar[ErrorCode]
    URL_NOT_ALLOWED: _ClassVar[ErrorCode]
    RESPONSE_TOO_LARGE: _ClassVar[ErrorCode]
    REQUEST_TOO_LARGE: _ClassVar[ErrorCode]
    CREDENTIALS_UNAVAILABLE: _ClassVar[ErrorCode]
    UPSTREAM_PROTOCOL_ERROR: _ClassVar[ErrorCode]
    INTERNAL: _ClassVar[ErrorCode]
    EGRESS_DENIED: _ClassVar[ErrorCode]
    CIRCUIT_OPEN: _ClassVar[ErrorCode]
    JOB_NOT_FOUND: _ClassVar[ErrorCode]
    OVERLOADED: _ClassVar[ErrorCode]
    DISABLED_BY_OPERATOR: _ClassVar[ErrorCode]
    AMBIGUOUS_OPERATION: _ClassVar[ErrorCode]
ERROR_CODE_UNSPECIFIED: ErrorCode
AUTHENTICATION_FAILED: ErrorCode
ENDPOINT_NOT_FOUND: ErrorCode
TIMEOUT: ErrorCode
RATE_LIMITED: ErrorCode
SSL_ERROR: ErrorCode
CONNECTION_REFUSED: ErrorCode
SCHEMA_MISMATCH: ErrorCode
UNKNOWN_API: ErrorCode
UNKNOWN_OPERATION: ErrorCode
INVALID_ARGUMENT: ErrorCode
URL_NOT_ALLOWED: ErrorCode
RESPONSE_TOO_LARGE: ErrorCode
REQUEST_TOO_LARGE: ErrorCode
CREDENTIALS_UNAVAILABLE: ErrorCode
UPSTREAM_PROTOCOL_ERROR: ErrorCode
INTERNAL: ErrorCode
EGRESS_DENIED: ErrorCode
CIRCUIT_OPEN: ErrorCode
JOB_NOT_FOUND: ErrorCode
OVERLOADED: ErrorCode
DISABLED_BY_OPERATOR: ErrorCode
AMBIGUOUS_OPERATION: ErrorCode

class Value(_message.Message):
    __slots__ = ("null_value", "bool_value", "int_value", "double_value", "string_value", "bytes_value", "list_value", "map_value")
    NULL_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BYTES_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    MAP_VALUE_FIELD_NUMBER: _ClassVar[int]
    null_value: bool
    bool_value: bool
    int_value: int
    double_value: float
    string_value: str
    bytes_value: bytes
    list_value: ListValue
    map_value: MapValue
    def __init__(self, null_value: _Optional[bool] = ..., bool_value: _Optional[bool] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ..., bytes_value: _Optional[bytes] = ..., list_value: _Optional[_Union[ListValue, _Mapping]] = ..., map_value: _Optional[_Union[MapValue, _Mapping]] = ...) -> None: ...

class ListValue(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class MapValue(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[MapEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[MapEntry, _Mapping]]] = ...) -> None: ...

class MapEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: Value
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class KeyValue(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ("api", "operation", "positional", "keywords", "params", "json", "form", "raw_body", "content_type", "headers", "timeout_seconds", "background")
    API_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    POSITIONAL_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    FORM_FIELD_NUMBER: _ClassVar[int]
    RAW_BODY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    api: str
    operation: str
    positional: _containers.RepeatedCompositeFieldContainer[Value]
    keywords: _containers.RepeatedCompositeFieldContainer[MapEntry]
    params: _containers.RepeatedCompositeFieldContainer[KeyValue]
    json: bytes
    form: _containers.RepeatedCompositeFieldContainer[KeyValue]
    raw_body: bytes
    content_type: str
    headers: _containers.RepeatedCompositeFieldContainer[KeyValue]
    timeout_seconds: float
    background: bool
    def __init__(self, api: _Optional[str] = ..., operation: _Optional[str] = ..., positional: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., keywords: _Optional[_Iterable[_Union[MapEntry, _Mapping]]] = ..., params: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., json: _Optional[bytes] = ..., form: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., raw_body: _Optional[bytes] = ..., content_type: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., timeout_seconds: _Optional[float] = ..., background: _Optional[bool] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ("status_code", "reason", "headers", "body", "elapsed_seconds", "url", "http_version", "job_id", "from_cache", "llm_text")
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HTTP_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_CACHE_FIELD_NUMBER: _ClassVar[int]
    LLM_TEXT_FIELD_NUMBER: _ClassVar[int]
    status_code: int
    reason: str
    headers: _containers.RepeatedCompositeFieldContainer[KeyValue]
    body: bytes
    elapsed_seconds: float
    url: str
    http_version: str
    job_id: str
    from_cache: bool
    llm_text: str
    def __init__(self, status_code: _Optional[int] = ..., reason: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[KeyValue, _Mapping]]] = ..., body: _Optional[bytes] = ..., elapsed_seconds: _Optional[float] = ..., url: _Optional[str] = ..., http_version: _Optional[str] = ..., job_id: _Optional[str] = ..., from_cache: _Optional[bool] = ..., llm_text: _Optional[str] = ...) -> None: ...

class ErrorDetail(_message.Message):
    __slots__ = ("code", "message", "api", "operation", "suggestions", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    api: str
    operation: str
    suggestions: _containers.RepeatedScalarFieldContainer[str]
    field: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ..., api: _Optional[str] = ..., operation: _Optional[str] = ..., suggestions: _Optional[_Iterable[str]] = ..., field: _Optional[str] = ...) -> None: ...

class ListApisRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListApisResponse(_message.Message):
    __slots__ = ("apis", "environment")
    APIS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    apis: _containers.RepeatedCompositeFieldContainer[ApiSummary]
    environment: str
    def __init__(self, apis: _Optional[_Iterable[_Union[ApiSummary, _Mapping]]] = ..., environment: _Optional[str] = ...) -> None: ...

class ApiSummary(_message.Message):
    __slots__ = ("name", "description", "operations", "display_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    operations: _containers.RepeatedScalarFieldContainer[str]
    display_name: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., operations: _Optional[_Iterable[str]] = ..., display_name: _Optional[str] = ...) -> None: ...

class DescribeApiRequest(_message.Message):
    __slots__ = ("api",)
    API_FIELD_NUMBER: _ClassVar[int]
    api: str
    def __init__(self, api: _Optional[str] = ...) -> None: ...

class DescribeApiResponse(_message.Message):
    __slots__ = ("api",)
    API_FIELD_NUMBER: _ClassVar[int]
    api: ApiDescription
    def __init__(self, api: _Optional[_Union[ApiDescription, _Mapping]] = ...) -> None: ...

class ApiDescription(_message.Message):
    __slots__ = ("name", "description", "environment", "operations", "display_name", "informational_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    INFORMATIONAL_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    environment: str
    operations: _containers.RepeatedCompositeFieldContainer[OperationDescription]
    display_name: str
    informational_json: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., environment: _Optional[str] = ..., operations: _Optional[_Iterable[_Union[OperationDescription, _Mapping]]] = ..., display_name: _Optional[str] = ..., informational_json: _Optional[str] = ...) -> None: ...

class OperationDescription(_message.Message):
    __slots__ = ("name", "description", "method", "path", "parameters", "input_schema_json", "output_schema_json", "request_body_schema_json", "background", "from_context", "cache", "result")
    class FromContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BODY_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    FROM_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    method: str
    path: str
    parameters: _containers.RepeatedCompositeFieldContainer[ParameterDescription]
    input_schema_json: str
    output_schema_json: str
    request_body_schema_json: str
    background: bool
    from_context: _containers.ScalarMap[str, str]
    cache: CacheDescription
    result: ResultSettings
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., method: _Optional[str] = ..., path: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[ParameterDescription, _Mapping]]] = ..., input_schema_json: _Optional[str] = ..., output_schema_json: _Optional[str] = ..., request_body_schema_json: _Optional[str] = ..., background: _Optional[bool] = ..., from_context: _Optional[_Mapping[str, str]] = ..., cache: _Optional[_Union[CacheDescription, _Mapping]] = ..., result: _Optional[_Union[ResultSettings, _Mapping]] = ...) -> None: ...

class CacheDescription(_message.Message):
    __slots__ = ("ttl_s", "scope")
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ttl_s: float
    scope: str
    def __init__(self, ttl_s: _Optional[float] = ..., scope: _Optional[str] = ...) -> None: ...

class ResultSettings(_message.Message):
    __slots__ = ("select", "max_chars")
    SELECT_FIELD_NUMBER: _ClassVar[int]
    MAX_CHARS_FIELD_NUMBER: _ClassVar[int]
    select: str
    max_chars: int
    def __init__(self, select: _Optional[str] = ..., max_chars: _Optional[int] = ...) -> None: ...

class ParameterDescription(_message.Message):
    __slots__ = ("name", "location", "type", "required", "description", "from_context")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FROM_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    name: str
    location: str
    type: str
    required: bool
    description: str
    from_context: str
    def __init__(self, name: _Optional[str] = ..., location: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., description: _Optional[str] = ..., from_context: _Optional[str] = ...) -> None: ...

class LogRequest(_message.Message):
    __slots__ = ("level", "message")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    level: str
    message: str
    def __init__(self, level: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class LogResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TestConnectionRequest(_message.Message):
    __slots__ = ("apis",)
    APIS_FIELD_NUMBER: _ClassVar[int]
    apis: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, apis: _Optional[_Iterable[str]] = ...) -> None: ...

class TestConnectionResponse(_message.Message):
    __slots__ = ("apis",)
    APIS_FIELD_NUMBER: _ClassVar[int]
    apis: _containers.RepeatedCompositeFieldContainer[ApiCheckResult]
    def __init__(self, apis: _Optional[_Iterable[_Union[ApiCheckResult, _Mapping]]] = ...) -> None: ...

class ApiCheckResult(_message.Message):
    __slots__ = ("api", "ok", "summary", "checks", "base_url", "checked_at", "reused", "next_run_in_seconds")
    API_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    api: str
    ok: bool
    summary: str
    checks: _containers.RepeatedCompositeFieldContainer[CheckResult]
    base_url: str
    checked_at: float
    reused: bool
    next_run_in_seconds: float
    def __init__(self, api: _Optional[str] = ..., ok: _Optional[bool] = ..., summary: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., base_url: _Optional[str] = ..., checked_at: _Optional[float] = ..., reused: _Optional[bool] = ..., next_run_in_seconds: _Optional[float] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("name", "status", "detail", "elapsed_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    detail: str
    elapsed_seconds: float
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., detail: _Optional[str] = ..., elapsed_seconds: _Optional[float] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job_id", "state", "attempts", "created_at", "updated_at", "api", "operation", "response", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    API_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: str
    attempts: int
    created_at: float
    updated_at: float
    api: str
    operation: str
    response: InvokeResponse
    error: ErrorDetail
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[int] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., api: _Optional[str] = ..., operation: _Optional[str] = ..., response: _Optional[_Union[InvokeResponse, _Mapping]] = ..., error: _Optional[_Union[ErrorDetail, _Mapping]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "limit")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    query: str
    limit: int
    def __init__(self, query: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SearchResult, _Mapping]]] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("api", "operation", "score", "description", "tool_name", "tool_json")
    API_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_JSON_FIELD_NUMBER: _ClassVar[int]
    api: str
    operation: str
    score: float
    description: str
    tool_name: str
    tool_json: str
    def __init__(self, api: _Optional[str] = ..., operation: _Optional[str] = ..., score: _Optional[float] = ..., description: _Optional[str] = ..., tool_name: _Optional[str] = ..., tool_json: _Optional[str] = ...) -> None: ...

class CallRequest(_message.Message):
    __slots__ = ("text", "invoke")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INVOKE_FIELD_NUMBER: _ClassVar[int]
    text: str
    invoke: InvokeRequest
    def __init__(self, text: _Optional[str] = ..., invoke: _Optional[_Union[InvokeRequest, _Mapping]] = ...) -> None: ...
