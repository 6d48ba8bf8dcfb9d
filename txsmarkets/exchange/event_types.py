"""The kinds of events the HTTP API knows: its legacy type names, its domains and scopes
(the newer two-part type), and the event states. A catalogue's events are checked against
them, and the HTTP API's filters take them."""

from __future__ import annotations

__all__ = ["EVENT_DOMAINS", "EVENT_SCOPES", "EVENT_STATES", "EVENT_TYPES"]

#: Legacy event type names (an event's type unless with_new_type is asked for).
EVENT_TYPES = (
    "american_football_match", "american_football_outright", "baseball_match",
    "baseball_outright", "basketball_esports_match", "basketball_match", "boxing_match",
    "call_of_duty_match", "cricket_match", "cricket_outright", "csgo_match", "current_affairs",
    "cycling", "darts_match", "darts_outright", "dota_2_match", "football_esports_match",
    "football_match", "football_outright", "golf_match", "golf_outright",
    "greyhound_racing_race", "handball_match", "horse_racing_race", "ice_hockey_match",
    "league_of_legends_match", "mma_match", "motorsports_race", "motorsports_outright",
    "politics", "politics_outright", "rowing", "rugby_league_match", "rugby_league_outright",
    "rugby_union_match", "rugby_union_outright", "sailing_race", "sailing_outright",
    "snooker_match", "snooker_outright", "table_tennis_match", "table_tennis_outright",
    "tennis_match", "tennis_outright", "volleyball_match", "generic", "top_level_event",
    "tv_entertainment",
)

#: The first part of the newer type: the sport or field.
EVENT_DOMAINS = (
    "accumulator", "american_football", "australian_rules", "baseball", "basketball",
    "basketball_esports", "boxing", "call_of_duty", "chess", "cricket", "csgo",
    "current_affairs", "cycling", "darts", "dota_2", "esports", "football", "football_esports",
    "golf", "greyhound_racing", "handball", "horse_racing", "ice_hockey", "king_of_glory",
    "league_of_legends", "lol_wild_rift", "mma", "motorsports", "olympics", "overwatch",
    "poker", "politics", "pubg", "rainbow_six_siege", "rocket_league", "rowing", "rugby_league",
    "rugby_union", "sailing", "snooker", "starcraft", "starcraft_2", "tv_and_entertainment",
    "table_tennis", "tennis", "valorant", "volleyball", "winter_sports", "gaelic_football",
    "gaelic_hurling",
)

#: The second part of the newer type: where in the tree an event stands.
EVENT_SCOPES = (
    "root", "round", "category_root", "category", "single_event", "acca_root", "acca_category",
    "acca", "outright_root", "outright_category", "outright", "tour", "antepost_root",
    "antepost_category", "antepost",
)

#: Event states.
EVENT_STATES = (
    "new", "upcoming", "live", "ended", "settled", "cancelled", "suspended",
)
