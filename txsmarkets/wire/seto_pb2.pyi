from txsmarkets.wire import eto_pb2 as _eto_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ContractStateType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTRACT_STATE_NEW: _ClassVar[ContractStateType]
    CONTRACT_STATE_OPEN: _ClassVar[ContractStateType]
    CONTRACT_STATE_LIVE: _ClassVar[ContractStateType]
    CONTRACT_STATE_HALTED: _ClassVar[ContractStateType]
    CONTRACT_STATE_SETTLED: _ClassVar[ContractStateType]
    CONTRACT_STATE_VOIDED: _ClassVar[ContractStateType]
    CONTRACT_STATE_REDUCED: _ClassVar[ContractStateType]

class MarketManagementType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARKET_UNMANAGED: _ClassVar[MarketManagementType]
    MARKET_MANAGED: _ClassVar[MarketManagementType]

class MarketStateType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARKET_STATE_NEW: _ClassVar[MarketStateType]
    MARKET_STATE_OPEN: _ClassVar[MarketStateType]
    MARKET_STATE_LIVE: _ClassVar[MarketStateType]
    MARKET_STATE_HALTED: _ClassVar[MarketStateType]
    MARKET_STATE_SETTLED: _ClassVar[MarketStateType]
    MARKET_STATE_VOIDED: _ClassVar[MarketStateType]

class OrderCancelAllRejectedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_CANCEL_ALL_REJECTED_UNKNOWN_ERROR: _ClassVar[OrderCancelAllRejectedReason]

class OrderCancelRejectedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_CANCEL_REJECTED_NOT_FOUND: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_NOT_LIVE: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_CAPACITY_REACHED: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_THROTTLE_EXCEEDED: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_LIMIT_EXCEEDED: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_INSUFFICIENT_FUNDS: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_ACCOUNT_SUSPENDED: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_TRADING_SUSPENDED: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_MARKET_NOT_FOUND: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_INVALID_QUANTITY: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_TOO_LATE: _ClassVar[OrderCancelRejectedReason]
    ORDER_CANCEL_REJECTED_STAKE_LIMIT_EXCEEDED: _ClassVar[OrderCancelRejectedReason]

class OrderCancelReplaceRejectedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_CANCEL_REPLACE_REJECTED_TOO_LATE: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_CROSSED_SELF: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_CONTRACT_NOT_FOUND: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_CONTRACT_SETTLED: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_MARKET_HALTED: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_FOUND: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_OPEN: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_MARKET_SETTLED: _ClassVar[OrderCancelReplaceRejectedReason]
    ORDER_CANCEL_REPLACE_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE: _ClassVar[OrderCancelReplaceRejectedReason]

class OrderCancelledReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_CANCELLED_MEMBER_REQUESTED: _ClassVar[OrderCancelledReason]
    ORDER_CANCELLED_MARKET_HALTED: _ClassVar[OrderCancelledReason]
    ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY: _ClassVar[OrderCancelledReason]
    ORDER_CANCELLED_ADMIN_REQUESTED: _ClassVar[OrderCancelledReason]
    ORDER_CANCELLED_TRADING_SUSPENDED: _ClassVar[OrderCancelledReason]

class OrderCreateType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_CREATE_LIMIT: _ClassVar[OrderCreateType]

class OrderInvalidReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_INVALID_INVALID_PRICE: _ClassVar[OrderInvalidReason]
    ORDER_INVALID_INVALID_QUANTITY: _ClassVar[OrderInvalidReason]

class OrderQuantityReduceRejectedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_QUANTITY_REDUCE_REJECTED_NOT_FOUND: _ClassVar[OrderQuantityReduceRejectedReason]
    ORDER_QUANTITY_REDUCE_REJECTED_NOT_LIVE: _ClassVar[OrderQuantityReduceRejectedReason]
    ORDER_QUANTITY_REDUCE_REJECTED_CAPACITY_REACHED: _ClassVar[OrderQuantityReduceRejectedReason]
    ORDER_QUANTITY_REDUCE_REJECTED_THROTTLE_EXCEEDED: _ClassVar[OrderQuantityReduceRejectedReason]
    ORDER_QUANTITY_REDUCE_REJECTED_INVALID_NEW_QUANTITY: _ClassVar[OrderQuantityReduceRejectedReason]

class OrderQuantityReducedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_QUANTITY_REDUCED_MEMBER_REQUESTED: _ClassVar[OrderQuantityReducedReason]

class OrderRejectedReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_REJECTED_INSUFFICIENT_FUNDS: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_LIMIT_EXCEEDED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_MARKET_NOT_OPEN: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_MARKET_SETTLED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_MARKET_HALTED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_CROSSED_SELF: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_MARKET_NOT_FOUND: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_CONTRACT_NOT_FOUND: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_ACCOUNT_SUSPENDED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_CAPACITY_REACHED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_CONTRACT_SETTLED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_THROTTLE_EXCEEDED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_TRADING_SUSPENDED: _ClassVar[OrderRejectedReason]
    ORDER_REJECTED_STAKE_LIMIT_EXCEEDED: _ClassVar[OrderRejectedReason]

class PayloadType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYLOAD_ETO: _ClassVar[PayloadType]
    PAYLOAD_LOGIN: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CREATE: _ClassVar[PayloadType]
    PAYLOAD_ORDER_REJECTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_ACCEPTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_EXECUTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCELLED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_INVALID: _ClassVar[PayloadType]
    PAYLOAD_MARKET_SUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_MARKET_UNSUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_MARKET_QUOTES: _ClassVar[PayloadType]
    PAYLOAD_CONTRACT_QUOTES: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_REJECTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_EXECUTE_VOIDED: _ClassVar[PayloadType]
    PAYLOAD_MARKET_STATE: _ClassVar[PayloadType]
    PAYLOAD_EVENT_SUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_EVENT_UNSUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_RUNNINGBALL_NOTIFICATION: _ClassVar[PayloadType]
    PAYLOAD_MARKET_MANAGED_STATE: _ClassVar[PayloadType]
    PAYLOAD_PRICE_FEED_SUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_PRICE_FEED_UNSUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_ORDER_EXECUTE_CONFIRMED: _ClassVar[PayloadType]
    PAYLOAD_MARKET_FEED_SUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_MARKET_FEED_UNSUBSCRIBE: _ClassVar[PayloadType]
    PAYLOAD_ORDER_QUANTITY_REDUCE: _ClassVar[PayloadType]
    PAYLOAD_ORDER_QUANTITY_REDUCED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_QUANTITY_REDUCE_REJECTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_REDUCED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_ALL: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_ALL_REJECTED: _ClassVar[PayloadType]
    PAYLOAD_THROTTLE_LIMITS_CHANGED: _ClassVar[PayloadType]
    PAYLOAD_SETTINGS: _ClassVar[PayloadType]
    PAYLOAD_SETTINGS_ACCEPTED: _ClassVar[PayloadType]
    PAYLOAD_BALANCE_CHANGED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_VOIDED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_REPLACE: _ClassVar[PayloadType]
    PAYLOAD_ORDER_PENDING_REPLACE: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: _ClassVar[PayloadType]
    PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: _ClassVar[PayloadType]

class PriceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_PERCENT_ODDS: _ClassVar[PriceType]

class QuantityType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUANTITY_PAYOFF_CURRENCY: _ClassVar[QuantityType]

class ReduceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REDUCE_TYPE_QUANTITY: _ClassVar[ReduceType]
    REDUCE_TYPE_PRICE: _ClassVar[ReduceType]

class RunningballPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNNINGBALL_PERIOD_FIRSTHALF: _ClassVar[RunningballPeriod]
    RUNNINGBALL_PERIOD_PAUSE: _ClassVar[RunningballPeriod]
    RUNNINGBALL_PERIOD_SECONDHALF: _ClassVar[RunningballPeriod]
    RUNNINGBALL_PERIOD_FINISHED: _ClassVar[RunningballPeriod]

class RunningballState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUNNINGBALL_STATE_SAFE: _ClassVar[RunningballState]
    RUNNINGBALL_STATE_DANGER: _ClassVar[RunningballState]
    RUNNINGBALL_STATE_ALERT: _ClassVar[RunningballState]
    RUNNINGBALL_STATE_FINISHED: _ClassVar[RunningballState]

class Side(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIDE_BUY: _ClassVar[Side]
    SIDE_SELL: _ClassVar[Side]

class TimeInForceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GOOD_TIL_CANCELLED: _ClassVar[TimeInForceType]
    IMMEDIATE_OR_CANCEL: _ClassVar[TimeInForceType]
    KEEP_IN_PLAY: _ClassVar[TimeInForceType]
    GOOD_TILL_HALTED: _ClassVar[TimeInForceType]
CONTRACT_STATE_NEW: ContractStateType
CONTRACT_STATE_OPEN: ContractStateType
CONTRACT_STATE_LIVE: ContractStateType
CONTRACT_STATE_HALTED: ContractStateType
CONTRACT_STATE_SETTLED: ContractStateType
CONTRACT_STATE_VOIDED: ContractStateType
CONTRACT_STATE_REDUCED: ContractStateType
MARKET_UNMANAGED: MarketManagementType
MARKET_MANAGED: MarketManagementType
MARKET_STATE_NEW: MarketStateType
MARKET_STATE_OPEN: MarketStateType
MARKET_STATE_LIVE: MarketStateType
MARKET_STATE_HALTED: MarketStateType
MARKET_STATE_SETTLED: MarketStateType
MARKET_STATE_VOIDED: MarketStateType
ORDER_CANCEL_ALL_REJECTED_UNKNOWN_ERROR: OrderCancelAllRejectedReason
ORDER_CANCEL_REJECTED_NOT_FOUND: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_NOT_LIVE: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_CAPACITY_REACHED: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_THROTTLE_EXCEEDED: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_LIMIT_EXCEEDED: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_INSUFFICIENT_FUNDS: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_ACCOUNT_SUSPENDED: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_TRADING_SUSPENDED: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_MARKET_NOT_FOUND: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_INVALID_QUANTITY: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_TOO_LATE: OrderCancelRejectedReason
ORDER_CANCEL_REJECTED_STAKE_LIMIT_EXCEEDED: OrderCancelRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_TOO_LATE: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_CROSSED_SELF: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_CONTRACT_NOT_FOUND: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_CONTRACT_SETTLED: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_MARKET_HALTED: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_FOUND: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_OPEN: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_MARKET_SETTLED: OrderCancelReplaceRejectedReason
ORDER_CANCEL_REPLACE_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE: OrderCancelReplaceRejectedReason
ORDER_CANCELLED_MEMBER_REQUESTED: OrderCancelledReason
ORDER_CANCELLED_MARKET_HALTED: OrderCancelledReason
ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY: OrderCancelledReason
ORDER_CANCELLED_ADMIN_REQUESTED: OrderCancelledReason
ORDER_CANCELLED_TRADING_SUSPENDED: OrderCancelledReason
ORDER_CREATE_LIMIT: OrderCreateType
ORDER_INVALID_INVALID_PRICE: OrderInvalidReason
ORDER_INVALID_INVALID_QUANTITY: OrderInvalidReason
ORDER_QUANTITY_REDUCE_REJECTED_NOT_FOUND: OrderQuantityReduceRejectedReason
ORDER_QUANTITY_REDUCE_REJECTED_NOT_LIVE: OrderQuantityReduceRejectedReason
ORDER_QUANTITY_REDUCE_REJECTED_CAPACITY_REACHED: OrderQuantityReduceRejectedReason
ORDER_QUANTITY_REDUCE_REJECTED_THROTTLE_EXCEEDED: OrderQuantityReduceRejectedReason
ORDER_QUANTITY_REDUCE_REJECTED_INVALID_NEW_QUANTITY: OrderQuantityReduceRejectedReason
ORDER_QUANTITY_REDUCED_MEMBER_REQUESTED: OrderQuantityReducedReason
ORDER_REJECTED_INSUFFICIENT_FUNDS: OrderRejectedReason
ORDER_REJECTED_LIMIT_EXCEEDED: OrderRejectedReason
ORDER_REJECTED_MARKET_NOT_OPEN: OrderRejectedReason
ORDER_REJECTED_MARKET_SETTLED: OrderRejectedReason
ORDER_REJECTED_MARKET_HALTED: OrderRejectedReason
ORDER_REJECTED_CROSSED_SELF: OrderRejectedReason
ORDER_REJECTED_MARKET_NOT_FOUND: OrderRejectedReason
ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE: OrderRejectedReason
ORDER_REJECTED_CONTRACT_NOT_FOUND: OrderRejectedReason
ORDER_REJECTED_ACCOUNT_SUSPENDED: OrderRejectedReason
ORDER_REJECTED_CAPACITY_REACHED: OrderRejectedReason
ORDER_REJECTED_CONTRACT_SETTLED: OrderRejectedReason
ORDER_REJECTED_THROTTLE_EXCEEDED: OrderRejectedReason
ORDER_REJECTED_TRADING_SUSPENDED: OrderRejectedReason
ORDER_REJECTED_STAKE_LIMIT_EXCEEDED: OrderRejectedReason
PAYLOAD_ETO: PayloadType
PAYLOAD_LOGIN: PayloadType
PAYLOAD_ORDER_CREATE: PayloadType
PAYLOAD_ORDER_REJECTED: PayloadType
PAYLOAD_ORDER_ACCEPTED: PayloadType
PAYLOAD_ORDER_EXECUTED: PayloadType
PAYLOAD_ORDER_CANCEL: PayloadType
PAYLOAD_ORDER_CANCELLED: PayloadType
PAYLOAD_ORDER_INVALID: PayloadType
PAYLOAD_MARKET_SUBSCRIBE: PayloadType
PAYLOAD_MARKET_UNSUBSCRIBE: PayloadType
PAYLOAD_MARKET_QUOTES: PayloadType
PAYLOAD_CONTRACT_QUOTES: PayloadType
PAYLOAD_ORDER_CANCEL_REJECTED: PayloadType
PAYLOAD_ORDER_EXECUTE_VOIDED: PayloadType
PAYLOAD_MARKET_STATE: PayloadType
PAYLOAD_EVENT_SUBSCRIBE: PayloadType
PAYLOAD_EVENT_UNSUBSCRIBE: PayloadType
PAYLOAD_RUNNINGBALL_NOTIFICATION: PayloadType
PAYLOAD_MARKET_MANAGED_STATE: PayloadType
PAYLOAD_PRICE_FEED_SUBSCRIBE: PayloadType
PAYLOAD_PRICE_FEED_UNSUBSCRIBE: PayloadType
PAYLOAD_ORDER_EXECUTE_CONFIRMED: PayloadType
PAYLOAD_MARKET_FEED_SUBSCRIBE: PayloadType
PAYLOAD_MARKET_FEED_UNSUBSCRIBE: PayloadType
PAYLOAD_ORDER_QUANTITY_REDUCE: PayloadType
PAYLOAD_ORDER_QUANTITY_REDUCED: PayloadType
PAYLOAD_ORDER_QUANTITY_REDUCE_REJECTED: PayloadType
PAYLOAD_ORDER_REDUCED: PayloadType
PAYLOAD_ORDER_CANCEL_ALL: PayloadType
PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED: PayloadType
PAYLOAD_ORDER_CANCEL_ALL_REJECTED: PayloadType
PAYLOAD_THROTTLE_LIMITS_CHANGED: PayloadType
PAYLOAD_SETTINGS: PayloadType
PAYLOAD_SETTINGS_ACCEPTED: PayloadType
PAYLOAD_BALANCE_CHANGED: PayloadType
PAYLOAD_ORDER_VOIDED: PayloadType
PAYLOAD_ORDER_CANCEL_REPLACE: PayloadType
PAYLOAD_ORDER_PENDING_REPLACE: PayloadType
PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: PayloadType
PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: PayloadType
PRICE_PERCENT_ODDS: PriceType
QUANTITY_PAYOFF_CURRENCY: QuantityType
REDUCE_TYPE_QUANTITY: ReduceType
REDUCE_TYPE_PRICE: ReduceType
RUNNINGBALL_PERIOD_FIRSTHALF: RunningballPeriod
RUNNINGBALL_PERIOD_PAUSE: RunningballPeriod
RUNNINGBALL_PERIOD_SECONDHALF: RunningballPeriod
RUNNINGBALL_PERIOD_FINISHED: RunningballPeriod
RUNNINGBALL_STATE_SAFE: RunningballState
RUNNINGBALL_STATE_DANGER: RunningballState
RUNNINGBALL_STATE_ALERT: RunningballState
RUNNINGBALL_STATE_FINISHED: RunningballState
SIDE_BUY: Side
SIDE_SELL: Side
GOOD_TIL_CANCELLED: TimeInForceType
IMMEDIATE_OR_CANCEL: TimeInForceType
KEEP_IN_PLAY: TimeInForceType
GOOD_TILL_HALTED: TimeInForceType

class BalanceChanged(_message.Message):
    __slots__ = ("reason", "available_balance", "exposure")
    REASON_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    available_balance: float
    exposure: float
    def __init__(self, reason: _Optional[str] = ..., available_balance: _Optional[float] = ..., exposure: _Optional[float] = ...) -> None: ...

class ContractQuotes(_message.Message):
    __slots__ = ("bids", "offers", "executions", "last_execution", "high_price", "low_price", "market_id", "contract_id")
    BIDS_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_EXECUTION_FIELD_NUMBER: _ClassVar[int]
    HIGH_PRICE_FIELD_NUMBER: _ClassVar[int]
    LOW_PRICE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    bids: _containers.RepeatedCompositeFieldContainer[Quote]
    offers: _containers.RepeatedCompositeFieldContainer[Quote]
    executions: _containers.RepeatedCompositeFieldContainer[Execution]
    last_execution: Execution
    high_price: int
    low_price: int
    market_id: int
    contract_id: int
    def __init__(self, bids: _Optional[_Iterable[_Union[Quote, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[Quote, _Mapping]]] = ..., executions: _Optional[_Iterable[_Union[Execution, _Mapping]]] = ..., last_execution: _Optional[_Union[Execution, _Mapping]] = ..., high_price: _Optional[int] = ..., low_price: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ...) -> None: ...

class ContractState(_message.Message):
    __slots__ = ("contract_id", "state", "reduce_type", "reduce_factor")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REDUCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    REDUCE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    state: ContractStateType
    reduce_type: ReduceType
    reduce_factor: int
    def __init__(self, contract_id: _Optional[int] = ..., state: _Optional[_Union[ContractStateType, str]] = ..., reduce_type: _Optional[_Union[ReduceType, str]] = ..., reduce_factor: _Optional[int] = ...) -> None: ...

class EventSubscribe(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    def __init__(self, event_id: _Optional[int] = ...) -> None: ...

class EventUnsubscribe(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    def __init__(self, event_id: _Optional[int] = ...) -> None: ...

class Execution(_message.Message):
    __slots__ = ("price", "quantity", "liquidity", "microseconds")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LIQUIDITY_FIELD_NUMBER: _ClassVar[int]
    MICROSECONDS_FIELD_NUMBER: _ClassVar[int]
    price: int
    quantity: int
    liquidity: Side
    microseconds: int
    def __init__(self, price: _Optional[int] = ..., quantity: _Optional[int] = ..., liquidity: _Optional[_Union[Side, str]] = ..., microseconds: _Optional[int] = ...) -> None: ...

class Login(_message.Message):
    __slots__ = ("username", "password", "cookie", "account_sequence", "account_sequence_64")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    COOKIE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    cookie: bytes
    account_sequence: int
    account_sequence_64: int
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., cookie: _Optional[bytes] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ...) -> None: ...

class MarketFeedSubscribe(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MarketFeedUnsubscribe(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MarketManagedState(_message.Message):
    __slots__ = ("managed_state", "market_id")
    MANAGED_STATE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    managed_state: MarketManagementType
    market_id: int
    def __init__(self, managed_state: _Optional[_Union[MarketManagementType, str]] = ..., market_id: _Optional[int] = ...) -> None: ...

class MarketQuotes(_message.Message):
    __slots__ = ("contract_quotes", "price_type", "quantity_type", "executed_volume", "market_id")
    CONTRACT_QUOTES_FIELD_NUMBER: _ClassVar[int]
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_VOLUME_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    contract_quotes: _containers.RepeatedCompositeFieldContainer[ContractQuotes]
    price_type: PriceType
    quantity_type: QuantityType
    executed_volume: int
    market_id: int
    def __init__(self, contract_quotes: _Optional[_Iterable[_Union[ContractQuotes, _Mapping]]] = ..., price_type: _Optional[_Union[PriceType, str]] = ..., quantity_type: _Optional[_Union[QuantityType, str]] = ..., executed_volume: _Optional[int] = ..., market_id: _Optional[int] = ...) -> None: ...

class MarketState(_message.Message):
    __slots__ = ("state", "market_id", "reason", "contracts")
    STATE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONTRACTS_FIELD_NUMBER: _ClassVar[int]
    state: MarketStateType
    market_id: int
    reason: str
    contracts: _containers.RepeatedCompositeFieldContainer[ContractState]
    def __init__(self, state: _Optional[_Union[MarketStateType, str]] = ..., market_id: _Optional[int] = ..., reason: _Optional[str] = ..., contracts: _Optional[_Iterable[_Union[ContractState, _Mapping]]] = ...) -> None: ...

class MarketSubscribe(_message.Message):
    __slots__ = ("market_id",)
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    market_id: int
    def __init__(self, market_id: _Optional[int] = ...) -> None: ...

class MarketUnsubscribe(_message.Message):
    __slots__ = ("market_id",)
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    market_id: int
    def __init__(self, market_id: _Optional[int] = ...) -> None: ...

class OrderAccepted(_message.Message):
    __slots__ = ("seq", "account_sequence", "reference", "price", "quantity", "order_id", "account_sequence_64", "available_balance", "exposure", "contract_id", "side", "market_id", "label")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    account_sequence: int
    reference: int
    price: int
    quantity: int
    order_id: int
    account_sequence_64: int
    available_balance: float
    exposure: float
    contract_id: int
    side: Side
    market_id: int
    label: str
    def __init__(self, seq: _Optional[int] = ..., account_sequence: _Optional[int] = ..., reference: _Optional[int] = ..., price: _Optional[int] = ..., quantity: _Optional[int] = ..., order_id: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., available_balance: _Optional[float] = ..., exposure: _Optional[float] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., market_id: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderCancel(_message.Message):
    __slots__ = ("reference", "order_id")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    reference: int
    order_id: int
    def __init__(self, reference: _Optional[int] = ..., order_id: _Optional[int] = ...) -> None: ...

class OrderCancelAll(_message.Message):
    __slots__ = ("reference", "market_id")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    reference: int
    market_id: int
    def __init__(self, reference: _Optional[int] = ..., market_id: _Optional[int] = ...) -> None: ...

class OrderCancelAllAccepted(_message.Message):
    __slots__ = ("account_sequence", "reference", "account_sequence_64")
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    account_sequence: int
    reference: int
    account_sequence_64: int
    def __init__(self, account_sequence: _Optional[int] = ..., reference: _Optional[int] = ..., account_sequence_64: _Optional[int] = ...) -> None: ...

class OrderCancelAllRejected(_message.Message):
    __slots__ = ("reason", "account_sequence", "reference", "account_sequence_64")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    reason: OrderCancelAllRejectedReason
    account_sequence: int
    reference: int
    account_sequence_64: int
    def __init__(self, reason: _Optional[_Union[OrderCancelAllRejectedReason, str]] = ..., account_sequence: _Optional[int] = ..., reference: _Optional[int] = ..., account_sequence_64: _Optional[int] = ...) -> None: ...

class OrderCancelRejected(_message.Message):
    __slots__ = ("reason", "account_sequence", "reference", "order_id", "account_sequence_64", "label", "orig_order_id", "market_id", "contract_id", "side")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ORIG_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    reason: OrderCancelRejectedReason
    account_sequence: int
    reference: int
    order_id: int
    account_sequence_64: int
    label: str
    orig_order_id: int
    market_id: int
    contract_id: int
    side: Side
    def __init__(self, reason: _Optional[_Union[OrderCancelRejectedReason, str]] = ..., account_sequence: _Optional[int] = ..., reference: _Optional[int] = ..., order_id: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., label: _Optional[str] = ..., orig_order_id: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ...) -> None: ...

class OrderCancelReplace(_message.Message):
    __slots__ = ("orig_order_id", "price", "price_type", "quantity", "quantity_type", "reference", "label", "market_id")
    ORIG_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    orig_order_id: int
    price: int
    price_type: PriceType
    quantity: int
    quantity_type: QuantityType
    reference: int
    label: str
    market_id: int
    def __init__(self, orig_order_id: _Optional[int] = ..., price: _Optional[int] = ..., price_type: _Optional[_Union[PriceType, str]] = ..., quantity: _Optional[int] = ..., quantity_type: _Optional[_Union[QuantityType, str]] = ..., reference: _Optional[int] = ..., label: _Optional[str] = ..., market_id: _Optional[int] = ...) -> None: ...

class OrderCancelReplaceAccepted(_message.Message):
    __slots__ = ("order_id", "orig_order_id", "price", "quantity", "quantity_left", "account_sequence", "account_sequence_64", "reference", "label", "market_id", "contract_id", "side")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIG_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_LEFT_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    orig_order_id: int
    price: int
    quantity: int
    quantity_left: int
    account_sequence: int
    account_sequence_64: int
    reference: int
    label: str
    market_id: int
    contract_id: int
    side: Side
    def __init__(self, order_id: _Optional[int] = ..., orig_order_id: _Optional[int] = ..., price: _Optional[int] = ..., quantity: _Optional[int] = ..., quantity_left: _Optional[int] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., reference: _Optional[int] = ..., label: _Optional[str] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ...) -> None: ...

class OrderCancelReplaceRejected(_message.Message):
    __slots__ = ("order_id", "orig_order_id", "reason", "account_sequence", "account_sequence_64", "reference", "label", "market_id", "contract_id", "side")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIG_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    orig_order_id: int
    reason: OrderCancelReplaceRejectedReason
    account_sequence: int
    account_sequence_64: int
    reference: int
    label: str
    market_id: int
    contract_id: int
    side: Side
    def __init__(self, order_id: _Optional[int] = ..., orig_order_id: _Optional[int] = ..., reason: _Optional[_Union[OrderCancelReplaceRejectedReason, str]] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., reference: _Optional[int] = ..., label: _Optional[str] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ...) -> None: ...

class OrderCancelled(_message.Message):
    __slots__ = ("reason", "account_sequence", "reference", "order_id", "executed_quantity", "executed_avg_price", "account_sequence_64", "market_id", "contract_id", "side", "orig_price", "available_balance", "exposure", "label")
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORIG_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    reason: OrderCancelledReason
    account_sequence: int
    reference: int
    order_id: int
    executed_quantity: int
    executed_avg_price: int
    account_sequence_64: int
    market_id: int
    contract_id: int
    side: Side
    orig_price: int
    available_balance: float
    exposure: float
    label: str
    def __init__(self, reason: _Optional[_Union[OrderCancelledReason, str]] = ..., account_sequence: _Optional[int] = ..., reference: _Optional[int] = ..., order_id: _Optional[int] = ..., executed_quantity: _Optional[int] = ..., executed_avg_price: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., orig_price: _Optional[int] = ..., available_balance: _Optional[float] = ..., exposure: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class OrderCreate(_message.Message):
    __slots__ = ("type", "side", "quantity_type", "quantity", "price_type", "price", "maq", "tif", "reference", "market_id", "contract_id", "label")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    MAQ_FIELD_NUMBER: _ClassVar[int]
    TIF_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    type: OrderCreateType
    side: Side
    quantity_type: QuantityType
    quantity: int
    price_type: PriceType
    price: int
    maq: int
    tif: TimeInForceType
    reference: int
    market_id: int
    contract_id: int
    label: str
    def __init__(self, type: _Optional[_Union[OrderCreateType, str]] = ..., side: _Optional[_Union[Side, str]] = ..., quantity_type: _Optional[_Union[QuantityType, str]] = ..., quantity: _Optional[int] = ..., price_type: _Optional[_Union[PriceType, str]] = ..., price: _Optional[int] = ..., maq: _Optional[int] = ..., tif: _Optional[_Union[TimeInForceType, str]] = ..., reference: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderExecuteConfirmed(_message.Message):
    __slots__ = ("price", "quantity", "account_sequence", "order_id", "account_sequence_64", "label")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    price: int
    quantity: int
    account_sequence: int
    order_id: int
    account_sequence_64: int
    label: str
    def __init__(self, price: _Optional[int] = ..., quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., order_id: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderExecuted(_message.Message):
    __slots__ = ("price", "quantity_type", "quantity", "account_sequence", "pending_timeout", "order_id", "side", "market_id", "contract_id", "account_sequence_64", "total_executed_quantity", "executed_avg_price", "available_quantity", "orig_price", "available_balance", "exposure", "label")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PENDING_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXECUTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ORIG_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    price: int
    quantity_type: QuantityType
    quantity: int
    account_sequence: int
    pending_timeout: int
    order_id: int
    side: Side
    market_id: int
    contract_id: int
    account_sequence_64: int
    total_executed_quantity: int
    executed_avg_price: int
    available_quantity: int
    orig_price: int
    available_balance: float
    exposure: float
    label: str
    def __init__(self, price: _Optional[int] = ..., quantity_type: _Optional[_Union[QuantityType, str]] = ..., quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., pending_timeout: _Optional[int] = ..., order_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., total_executed_quantity: _Optional[int] = ..., executed_avg_price: _Optional[int] = ..., available_quantity: _Optional[int] = ..., orig_price: _Optional[int] = ..., available_balance: _Optional[float] = ..., exposure: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class OrderExecutedVoid(_message.Message):
    __slots__ = ("price", "quantity_type", "quantity", "account_sequence", "order_id", "account_sequence_64", "market_id", "contract_id", "side", "orig_price", "executed_quantity", "executed_avg_price", "available_quantity", "available_balance", "exposure", "label")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_TYPE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORIG_PRICE_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    price: int
    quantity_type: QuantityType
    quantity: int
    account_sequence: int
    order_id: int
    account_sequence_64: int
    market_id: int
    contract_id: int
    side: Side
    orig_price: int
    executed_quantity: int
    executed_avg_price: int
    available_quantity: int
    available_balance: float
    exposure: float
    label: str
    def __init__(self, price: _Optional[int] = ..., quantity_type: _Optional[_Union[QuantityType, str]] = ..., quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., order_id: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., orig_price: _Optional[int] = ..., executed_quantity: _Optional[int] = ..., executed_avg_price: _Optional[int] = ..., available_quantity: _Optional[int] = ..., available_balance: _Optional[float] = ..., exposure: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class OrderInvalid(_message.Message):
    __slots__ = ("seq", "reasons", "reference")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    reasons: _containers.RepeatedScalarFieldContainer[OrderInvalidReason]
    reference: int
    def __init__(self, seq: _Optional[int] = ..., reasons: _Optional[_Iterable[_Union[OrderInvalidReason, str]]] = ..., reference: _Optional[int] = ...) -> None: ...

class OrderPendingReplace(_message.Message):
    __slots__ = ("order_id", "orig_order_id", "price", "quantity", "account_sequence", "account_sequence_64", "reference", "label", "market_id", "contract_id", "side")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ORIG_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    orig_order_id: int
    price: int
    quantity: int
    account_sequence: int
    account_sequence_64: int
    reference: int
    label: str
    market_id: int
    contract_id: int
    side: Side
    def __init__(self, order_id: _Optional[int] = ..., orig_order_id: _Optional[int] = ..., price: _Optional[int] = ..., quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., reference: _Optional[int] = ..., label: _Optional[str] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ...) -> None: ...

class OrderQuantityReduce(_message.Message):
    __slots__ = ("order_id", "new_quantity", "reference")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    new_quantity: int
    reference: int
    def __init__(self, order_id: _Optional[int] = ..., new_quantity: _Optional[int] = ..., reference: _Optional[int] = ...) -> None: ...

class OrderQuantityReduceRejected(_message.Message):
    __slots__ = ("order_id", "reason", "reference", "new_quantity", "account_sequence", "account_sequence_64", "label")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    NEW_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    reason: OrderQuantityReduceRejectedReason
    reference: int
    new_quantity: int
    account_sequence: int
    account_sequence_64: int
    label: str
    def __init__(self, order_id: _Optional[int] = ..., reason: _Optional[_Union[OrderQuantityReduceRejectedReason, str]] = ..., reference: _Optional[int] = ..., new_quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderQuantityReduced(_message.Message):
    __slots__ = ("order_id", "reason", "reference", "new_quantity", "account_sequence", "account_sequence_64", "market_id", "contract_id", "side", "orig_price", "executed_quantity", "executed_avg_price", "label")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    NEW_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORIG_PRICE_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    reason: OrderQuantityReducedReason
    reference: int
    new_quantity: int
    account_sequence: int
    account_sequence_64: int
    market_id: int
    contract_id: int
    side: Side
    orig_price: int
    executed_quantity: int
    executed_avg_price: int
    label: str
    def __init__(self, order_id: _Optional[int] = ..., reason: _Optional[_Union[OrderQuantityReducedReason, str]] = ..., reference: _Optional[int] = ..., new_quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., orig_price: _Optional[int] = ..., executed_quantity: _Optional[int] = ..., executed_avg_price: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderReduced(_message.Message):
    __slots__ = ("order_id", "price", "quantity", "source_quantity", "account_sequence", "account_sequence_64", "market_id", "contract_id", "side", "orig_price", "executed_quantity", "executed_avg_price", "available_quantity", "label")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORIG_PRICE_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    price: int
    quantity: int
    source_quantity: int
    account_sequence: int
    account_sequence_64: int
    market_id: int
    contract_id: int
    side: Side
    orig_price: int
    executed_quantity: int
    executed_avg_price: int
    available_quantity: int
    label: str
    def __init__(self, order_id: _Optional[int] = ..., price: _Optional[int] = ..., quantity: _Optional[int] = ..., source_quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., orig_price: _Optional[int] = ..., executed_quantity: _Optional[int] = ..., executed_avg_price: _Optional[int] = ..., available_quantity: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderRejected(_message.Message):
    __slots__ = ("seq", "reason", "account_sequence", "reference", "account_sequence_64", "label")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    seq: int
    reason: OrderRejectedReason
    account_sequence: int
    reference: int
    account_sequence_64: int
    label: str
    def __init__(self, seq: _Optional[int] = ..., reason: _Optional[_Union[OrderRejectedReason, str]] = ..., account_sequence: _Optional[int] = ..., reference: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class OrderVoided(_message.Message):
    __slots__ = ("order_id", "quantity", "source_quantity", "account_sequence", "account_sequence_64", "market_id", "contract_id", "side", "orig_price", "executed_quantity", "executed_avg_price", "label")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_SEQUENCE_64_FIELD_NUMBER: _ClassVar[int]
    MARKET_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    ORIG_PRICE_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_AVG_PRICE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    quantity: int
    source_quantity: int
    account_sequence: int
    account_sequence_64: int
    market_id: int
    contract_id: int
    side: Side
    orig_price: int
    executed_quantity: int
    executed_avg_price: int
    label: str
    def __init__(self, order_id: _Optional[int] = ..., quantity: _Optional[int] = ..., source_quantity: _Optional[int] = ..., account_sequence: _Optional[int] = ..., account_sequence_64: _Optional[int] = ..., market_id: _Optional[int] = ..., contract_id: _Optional[int] = ..., side: _Optional[_Union[Side, str]] = ..., orig_price: _Optional[int] = ..., executed_quantity: _Optional[int] = ..., executed_avg_price: _Optional[int] = ..., label: _Optional[str] = ...) -> None: ...

class Payload(_message.Message):
    __slots__ = ("type", "eto_payload", "login", "order_create", "order_rejected", "order_accepted", "order_executed", "order_cancel", "order_cancelled", "order_invalid", "market_subscribe", "market_unsubscribe", "market_quotes", "contract_quotes", "order_cancel_rejected", "order_execute_voided", "market_state", "event_subscribe", "event_unsubscribe", "runningball_notification", "market_managed_state", "price_feed_subscribe", "price_feed_unsubscribe", "order_execute_confirmed", "market_feed_subscribe", "market_feed_unsubscribe", "order_quantity_reduce", "order_quantity_reduced", "order_quantity_reduce_rejected", "order_reduced", "order_cancel_all", "order_cancel_all_accepted", "order_cancel_all_rejected", "throttle_limits_changed", "settings", "settings_accepted", "balance_changed", "order_voided", "order_cancel_replace", "order_pending_replace", "order_cancel_replace_accepted", "order_cancel_replace_rejected")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ETO_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    ORDER_CREATE_FIELD_NUMBER: _ClassVar[int]
    ORDER_REJECTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_EXECUTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    ORDER_INVALID_FIELD_NUMBER: _ClassVar[int]
    MARKET_SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    MARKET_UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    MARKET_QUOTES_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_QUOTES_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_REJECTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_EXECUTE_VOIDED_FIELD_NUMBER: _ClassVar[int]
    MARKET_STATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    EVENT_UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    RUNNINGBALL_NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    MARKET_MANAGED_STATE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FEED_SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FEED_UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    ORDER_EXECUTE_CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    MARKET_FEED_SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    MARKET_FEED_UNSUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    ORDER_QUANTITY_REDUCE_FIELD_NUMBER: _ClassVar[int]
    ORDER_QUANTITY_REDUCED_FIELD_NUMBER: _ClassVar[int]
    ORDER_QUANTITY_REDUCE_REJECTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_REDUCED_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_ALL_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_ALL_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_ALL_REJECTED_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_LIMITS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    BALANCE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    ORDER_VOIDED_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_REPLACE_FIELD_NUMBER: _ClassVar[int]
    ORDER_PENDING_REPLACE_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_REPLACE_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ORDER_CANCEL_REPLACE_REJECTED_FIELD_NUMBER: _ClassVar[int]
    type: PayloadType
    eto_payload: _eto_pb2.Payload
    login: Login
    order_create: OrderCreate
    order_rejected: OrderRejected
    order_accepted: OrderAccepted
    order_executed: OrderExecuted
    order_cancel: OrderCancel
    order_cancelled: OrderCancelled
    order_invalid: OrderInvalid
    market_subscribe: MarketSubscribe
    market_unsubscribe: MarketUnsubscribe
    market_quotes: MarketQuotes
    contract_quotes: ContractQuotes
    order_cancel_rejected: OrderCancelRejected
    order_execute_voided: OrderExecutedVoid
    market_state: MarketState
    event_subscribe: EventSubscribe
    event_unsubscribe: EventUnsubscribe
    runningball_notification: RunningballNotification
    market_managed_state: MarketManagedState
    price_feed_subscribe: PriceFeedSubscribe
    price_feed_unsubscribe: PriceFeedUnsubscribe
    order_execute_confirmed: OrderExecuteConfirmed
    market_feed_subscribe: MarketFeedSubscribe
    market_feed_unsubscribe: MarketFeedUnsubscribe
    order_quantity_reduce: OrderQuantityReduce
    order_quantity_reduced: OrderQuantityReduced
    order_quantity_reduce_rejected: OrderQuantityReduceRejected
    order_reduced: OrderReduced
    order_cancel_all: OrderCancelAll
    order_cancel_all_accepted: OrderCancelAllAccepted
    order_cancel_all_rejected: OrderCancelAllRejected
    throttle_limits_changed: ThrottleLimitsChanged
    settings: Settings
    settings_accepted: SettingsAccepted
    balance_changed: BalanceChanged
    order_voided: OrderVoided
    order_cancel_replace: OrderCancelReplace
    order_pending_replace: OrderPendingReplace
    order_cancel_replace_accepted: OrderCancelReplaceAccepted
    order_cancel_replace_rejected: OrderCancelReplaceRejected
    def __init__(self, type: _Optional[_Union[PayloadType, str]] = ..., eto_payload: _Optional[_Union[_eto_pb2.Payload, _Mapping]] = ..., login: _Optional[_Union[Login, _Mapping]] = ..., order_create: _Optional[_Union[OrderCreate, _Mapping]] = ..., order_rejected: _Optional[_Union[OrderRejected, _Mapping]] = ..., order_accepted: _Optional[_Union[OrderAccepted, _Mapping]] = ..., order_executed: _Optional[_Union[OrderExecuted, _Mapping]] = ..., order_cancel: _Optional[_Union[OrderCancel, _Mapping]] = ..., order_cancelled: _Optional[_Union[OrderCancelled, _Mapping]] = ..., order_invalid: _Optional[_Union[OrderInvalid, _Mapping]] = ..., market_subscribe: _Optional[_Union[MarketSubscribe, _Mapping]] = ..., market_unsubscribe: _Optional[_Union[MarketUnsubscribe, _Mapping]] = ..., market_quotes: _Optional[_Union[MarketQuotes, _Mapping]] = ..., contract_quotes: _Optional[_Union[ContractQuotes, _Mapping]] = ..., order_cancel_rejected: _Optional[_Union[OrderCancelRejected, _Mapping]] = ..., order_execute_voided: _Optional[_Union[OrderExecutedVoid, _Mapping]] = ..., market_state: _Optional[_Union[MarketState, _Mapping]] = ..., event_subscribe: _Optional[_Union[EventSubscribe, _Mapping]] = ..., event_unsubscribe: _Optional[_Union[EventUnsubscribe, _Mapping]] = ..., runningball_notification: _Optional[_Union[RunningballNotification, _Mapping]] = ..., market_managed_state: _Optional[_Union[MarketManagedState, _Mapping]] = ..., price_feed_subscribe: _Optional[_Union[PriceFeedSubscribe, _Mapping]] = ..., price_feed_unsubscribe: _Optional[_Union[PriceFeedUnsubscribe, _Mapping]] = ..., order_execute_confirmed: _Optional[_Union[OrderExecuteConfirmed, _Mapping]] = ..., market_feed_subscribe: _Optional[_Union[MarketFeedSubscribe, _Mapping]] = ..., market_feed_unsubscribe: _Optional[_Union[MarketFeedUnsubscribe, _Mapping]] = ..., order_quantity_reduce: _Optional[_Union[OrderQuantityReduce, _Mapping]] = ..., order_quantity_reduced: _Optional[_Union[OrderQuantityReduced, _Mapping]] = ..., order_quantity_reduce_rejected: _Optional[_Union[OrderQuantityReduceRejected, _Mapping]] = ..., order_reduced: _Optional[_Union[OrderReduced, _Mapping]] = ..., order_cancel_all: _Optional[_Union[OrderCancelAll, _Mapping]] = ..., order_cancel_all_accepted: _Optional[_Union[OrderCancelAllAccepted, _Mapping]] = ..., order_cancel_all_rejected: _Optional[_Union[OrderCancelAllRejected, _Mapping]] = ..., throttle_limits_changed: _Optional[_Union[ThrottleLimitsChanged, _Mapping]] = ..., settings: _Optional[_Union[Settings, _Mapping]] = ..., settings_accepted: _Optional[_Union[SettingsAccepted, _Mapping]] = ..., balance_changed: _Optional[_Union[BalanceChanged, _Mapping]] = ..., order_voided: _Optional[_Union[OrderVoided, _Mapping]] = ..., order_cancel_replace: _Optional[_Union[OrderCancelReplace, _Mapping]] = ..., order_pending_replace: _Optional[_Union[OrderPendingReplace, _Mapping]] = ..., order_cancel_replace_accepted: _Optional[_Union[OrderCancelReplaceAccepted, _Mapping]] = ..., order_cancel_replace_rejected: _Optional[_Union[OrderCancelReplaceRejected, _Mapping]] = ...) -> None: ...

class PriceFeedSubscribe(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PriceFeedUnsubscribe(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Quote(_message.Message):
    __slots__ = ("price", "quantity")
    PRICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    price: int
    quantity: int
    def __init__(self, price: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class RunningballNotification(_message.Message):
    __slots__ = ("state", "details", "period", "playtime", "score_home", "score_away", "event_id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PLAYTIME_FIELD_NUMBER: _ClassVar[int]
    SCORE_HOME_FIELD_NUMBER: _ClassVar[int]
    SCORE_AWAY_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    state: RunningballState
    details: str
    period: RunningballPeriod
    playtime: int
    score_home: int
    score_away: int
    event_id: int
    def __init__(self, state: _Optional[_Union[RunningballState, str]] = ..., details: _Optional[str] = ..., period: _Optional[_Union[RunningballPeriod, str]] = ..., playtime: _Optional[int] = ..., score_home: _Optional[int] = ..., score_away: _Optional[int] = ..., event_id: _Optional[int] = ...) -> None: ...

class Settings(_message.Message):
    __slots__ = ("cancel_all_on_failure",)
    CANCEL_ALL_ON_FAILURE_FIELD_NUMBER: _ClassVar[int]
    cancel_all_on_failure: bool
    def __init__(self, cancel_all_on_failure: _Optional[bool] = ...) -> None: ...

class SettingsAccepted(_message.Message):
    __slots__ = ("cancel_all_on_failure",)
    CANCEL_ALL_ON_FAILURE_FIELD_NUMBER: _ClassVar[int]
    cancel_all_on_failure: bool
    def __init__(self, cancel_all_on_failure: _Optional[bool] = ...) -> None: ...

class ThrottleLimitsChanged(_message.Message):
    __slots__ = ("average_rate_ps", "burst_size", "tick_ms")
    AVERAGE_RATE_PS_FIELD_NUMBER: _ClassVar[int]
    BURST_SIZE_FIELD_NUMBER: _ClassVar[int]
    TICK_MS_FIELD_NUMBER: _ClassVar[int]
    average_rate_ps: int
    burst_size: int
    tick_ms: int
    def __init__(self, average_rate_ps: _Optional[int] = ..., burst_size: _Optional[int] = ..., tick_ms: _Optional[int] = ...) -> None: ...
