package sandbox

// Word lists for the fabricated catalogue. A few names carry accents or
// apostrophes on purpose: real libraries have them, and they exercise
// UTF-8 in dumps and odd characters in file names.

var firstNames = []string{
	"Ada", "Alice", "Amara", "Anders", "Astrid", "Beatriz", "Bram", "Chidi", "Clara", "Dmitri",
	"Elif", "Emeka", "Eva", "Farah", "Felix", "Greta", "Hana", "Hugo", "Ines", "Ivan",
	"Jonas", "José", "Kaito", "Lena", "Liam", "Lucía", "Mara", "Marek", "Mei", "Nadia",
	"Niamh", "Noah", "Olga", "Omar", "Priya", "Rafael", "Rosa", "Sami", "Sofia", "Tariq",
	"Theo", "Ursula", "Vera", "Wanjiru", "Xavier", "Yara", "Yusuf", "Zoë", "Søren", "Łucja",
}

var lastNames = []string{
	"Abara", "Achterberg", "Alvarez", "Andersen", "Bakker", "Banerjee", "Bell", "Brandt", "Castillo", "Chen",
	"Costa", "Dahl", "Delacroix", "Dubois", "Eriksen", "Fischer", "Fontaine", "García", "Grün", "Haddad",
	"Hale", "Ishikawa", "Jansen", "Kaur", "Kowalski", "Kuznetsova", "Le Guin", "Lindqvist", "Lopes", "MacLeod",
	"Mahfouz", "Marsh", "Mbeki", "Moreau", "Müller", "Nakamura", "Novak", "Nwosu", "O'Brien", "Okafor",
	"Olsen", "Park", "Petrova", "Quinn", "Rahman", "Reyes", "Rossi", "Sato", "Schmidt", "Silva",
	"Sokolov", "Stein", "Tanaka", "Thorne", "Ueda", "Varga", "Vogel", "Weber", "Whitlock", "Yilmaz",
	"Zhang", "Zielinski", "van der Berg", "de la Cruz", "Ó Súilleabháin", "Ahlberg", "Barros", "Corvin", "Ekwueme", "Farrow",
}

var adjectives = []string{
	"Amber", "Ashen", "Bitter", "Broken", "Burning", "Crimson", "Distant", "Drowned", "Electric", "Empty",
	"Endless", "Fallen", "Forgotten", "Frozen", "Gilded", "Glass", "Golden", "Hidden", "Hollow", "Iron",
	"Last", "Lost", "Midnight", "Northern", "Paper", "Quiet", "Restless", "Salt", "Scarlet", "Secret",
	"Silent", "Silver", "Sleeping", "Stolen", "Sunken", "Twisted", "Velvet", "Wandering", "Wild", "Winter",
}

var nouns = []string{
	"Archive", "Atlas", "Bell", "Bridge", "Cartographer", "Cathedral", "City", "Clockmaker", "Compass", "Crown",
	"Daughter", "Garden", "Gate", "Harbor", "Heir", "House", "Island", "Key", "Kingdom", "Lantern",
	"Library", "Lighthouse", "Map", "Mirror", "Moon", "Mountain", "Night", "Ocean", "Orchard", "River",
	"Road", "Sea", "Shadow", "Ship", "Song", "Star", "Storm", "Stranger", "Tide", "Tower",
	"Traveller", "Valley", "Voyage", "Watcher", "Well", "Widow", "Wind", "Wolf", "Year", "Engine",
}

var seriesWords = []string{"Chronicles", "Cycle", "Trilogy", "Saga", "Quartet", "Mysteries", "Sequence"}

var publisherWords = []string{
	"Acorn", "Albatross", "Beacon", "Bramble", "Cobalt", "Copperfield", "Driftwood", "Ember", "Fernhill", "Foxglove",
	"Granite", "Harbor", "Heron", "Inkwell", "Juniper", "Kestrel", "Lantern", "Larkspur", "Meridian", "Nightjar",
	"Oakleaf", "Orchid", "Pelican", "Quill", "Raven", "Saffron", "Sparrow", "Tamarind", "Thistle", "Willow",
}

var publisherSuffixes = []string{"Books", "Press", "House", "Publishing", "& Sons", "Editions", "Verlag", "Media"}

var countries = []string{"GB", "US", "DE", "FR", "NL", "SE", "JP", "NG", "BR", "IN", "CA", "AU", "ES", "IT"}

var languages = []weighted{
	{"en", 70}, {"de", 8}, {"fr", 7}, {"es", 6}, {"it", 3}, {"nl", 2}, {"ja", 2}, {"pt", 2},
}

var tagNames = []string{
	"fantasy", "science fiction", "mystery", "thriller", "romance", "historical", "biography", "memoir",
	"poetry", "essays", "philosophy", "history", "science", "mathematics", "programming", "cooking",
	"travel", "art", "music", "children", "young adult", "horror", "classics", "short stories",
	"graphic novel", "economics", "politics", "nature", "psychology", "religion", "humour", "drama",
	"adventure", "crime", "dystopia", "space opera", "cyberpunk", "folklore", "gardening", "to-review",
}

var collectionNames = []string{
	"Favourites", "To read", "Book club", "Holiday reading", "Re-read someday", "Gifts",
	"Comfort reads", "Research", "Kids' shelf", "Classics to finish", "Commute", "Borrowed",
}

var descriptionWords = []string{
	"a", "an", "the", "of", "and", "in", "on", "with", "between", "against", "beneath", "through",
	"journey", "secret", "family", "war", "love", "memory", "city", "island", "letters", "empire",
	"discovers", "follows", "reveals", "haunts", "unravels", "remembers", "crosses", "defends",
	"young", "old", "forgotten", "unlikely", "brilliant", "reluctant", "ambitious", "quiet",
	"novel", "story", "chronicle", "portrait", "history", "account", "tale", "debut",
}
