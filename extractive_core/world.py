"""The real-world table the datasets draw on: cities with their country, language and
landmark, and pools of common English first and last names for fictitious people."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    """A real city and three things a pretrained model may know about it."""

    name: str
    country: str
    language: str
    landmark: str


# The first 20 are the paper's world; the last 10 extend it for the toy world.
CITIES: tuple[City, ...] = (
    City("Tokyo", "Japan", "Japanese", "Senso-ji Temple"),
    City("Beijing", "China", "Mandarin", "Forbidden City"),
    City("Mumbai", "India", "Marathi", "Gateway of India"),
    City("Paris", "France", "French", "Eiffel Tower"),
    City("Berlin", "Germany", "German", "Brandenburg Gate"),
    City("Moscow", "Russia", "Russian", "St. Basil's Cathedral"),
    City("Cairo", "Egypt", "Arabic", "Great Pyramid of Giza"),
    City("Bangkok", "Thailand", "Thai", "Wat Arun"),
    City("Istanbul", "Turkey", "Turkish", "Blue Mosque"),
    City("Sao Paulo", "Brazil", "Portuguese", "Ibirapuera Park"),
    City("Seoul", "South Korea", "Korean", "N Seoul Tower"),
    City("Rome", "Italy", "Italian", "Colosseum"),
    City("London", "United Kingdom", "English", "Tower Bridge"),
    City("Madrid", "Spain", "Spanish", "Plaza Mayor"),
    City("Athens", "Greece", "Greek", "Acropolis"),
    City("Hanoi", "Vietnam", "Vietnamese", "Ho Chi Minh Mausoleum"),
    City("Addis Ababa", "Ethiopia", "Amharic", "Meskel Square"),
    City("Jakarta", "Indonesia", "Indonesian", "Istiqlal Mosque"),
    City("Tehran", "Iran", "Persian", "Azadi Tower"),
    City("Nairobi", "Kenya", "Swahili", "Uhuru Gardens"),
    City("Amsterdam", "Netherlands", "Dutch", "Rijksmuseum"),
    City("Stockholm", "Sweden", "Swedish", "Vasa Museum"),
    City("Warsaw", "Poland", "Polish", "Palace of Culture"),
    City("Budapest", "Hungary", "Hungarian", "Chain Bridge"),
    City("Helsinki", "Finland", "Finnish", "Suomenlinna"),
    City("Prague", "Czech Republic", "Czech", "Charles Bridge"),
    City("Reykjavik", "Iceland", "Icelandic", "Hallgrimskirkja"),
    City("Copenhagen", "Denmark", "Danish", "Tivoli Gardens"),
    City("Oslo", "Norway", "Norwegian", "Viking Ship Museum"),
    City("Kyiv", "Ukraine", "Ukrainian", "Saint Sophia Cathedral"),
)

PAPER_CITIES: tuple[City, ...] = CITIES[:20]

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Linda", "Michael", "Susan", "William", "Karen",
    "David", "Nancy", "Richard", "Betty", "Joseph", "Helen", "Thomas", "Sandra",
    "Charles", "Donna", "Daniel", "Carol", "Matthew", "Ruth", "Anthony", "Sharon",
    "Mark", "Laura", "Paul", "Emily", "Steven", "Kimberly", "Andrew", "Deborah",
    "Kenneth", "Jessica", "George", "Shirley", "Edward", "Cynthia", "Brian", "Angela",
    "Ronald", "Melissa", "Timothy", "Brenda", "Jason", "Amy", "Jeffrey", "Anna",
    "Ryan", "Rebecca", "Jacob", "Virginia", "Gary", "Kathleen", "Nicholas", "Pamela",
    "Eric", "Martha", "Stephen", "Debra",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson",
    "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson", "Thompson", "White",
    "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
    "Wright", "Scott", "Hill", "Green", "Adams", "Baker", "Nelson", "Carter",
    "Mitchell", "Roberts", "Turner", "Phillips", "Campbell", "Parker", "Evans", "Edwards",
    "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Cooper",
    "Peterson", "Bailey", "Reed", "Kelly", "Howard", "Cox", "Ward", "Richardson",
    "Watson", "Brooks", "Wood", "Bennett",
)
