package mongo_test

import (
	_ "github.com/FerretDB/FerretDB/ferretdb"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
)
